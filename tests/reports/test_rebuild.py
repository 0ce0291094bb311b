"""A clean checkout rebuilds the committed reports/ byte for byte from the result rows git tracks.

The tracked files under results/ are copied (from git's index, so an untracked local result cannot help) to a
temporary results directory; `vlm2vla report` writes into another temporary directory through VLM2VLA_RESULTS and
VLM2VLA_REPORTS, exactly as `make reports` would on a fresh clone; every file must equal the committed one.
"""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.paths import REPO_ROOT


def _tracked(prefix: str) -> dict[str, bytes]:
    """{path under `prefix`: content in git's index} (what a clean checkout of this commit holds)."""
    try:
        names = subprocess.run(["git", "ls-files", "-z", "--", prefix], cwd=REPO_ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    out = {}
    for name in filter(None, names):
        blob = subprocess.run(["git", "show", f":{name}"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
        out[name[len(prefix):]] = blob
    return out


def test_make_reports_on_a_clean_checkout_reproduces_reports(tmp_path, monkeypatch):
    results, out = tmp_path / "results", tmp_path / "reports"
    tracked_results = _tracked("results/")
    assert "paper/vqa.csv" in tracked_results
    for name, data in tracked_results.items():
        (results / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).write_bytes(data)
    monkeypatch.setenv("VLM2VLA_RESULTS", str(results))
    monkeypatch.setenv("VLM2VLA_REPORTS", str(out))
    r = CliRunner().invoke(app, ["report"])
    assert r.exit_code == 0, r.output
    built = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    committed = _tracked("reports/")
    assert sorted(built) == sorted(committed), "reports/ lists other files than a rebuild writes: run `make reports`"
    differ = [name for name in committed if built[name] != committed[name]]
    assert not differ, f"a rebuild from the tracked results differs in {differ}: run `make reports` and commit both"


def test_results_rows_that_reports_read_are_tracked_and_run_outputs_are_not():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO_ROOT).returncode == 0

    if not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for kept in ("results/vqa/scores.csv", "results/robot/trials.csv", "results/mechanism/logprob_m.csv",
                 "results/mechanism/forgetting_m.csv", "results/train/run.csv", "results/bench/policy_m.csv",
                 "results/paper/vqa.csv"):
        assert not ignored(kept), kept
    for dropped in ("results/robot/trials.sqlite", "results/robot/s/m/trial-000/trial.gif",
                    "results/vqa/m/embedded-1/MME/m_MME.xlsx", "results/data/dlan/data/train-00000.parquet",
                    "results/mechanism/logprob_m.png", "results/demo/vqa/scores.csv",
                    "results/demo/reports/README.md", "runs/gemma3-270m-vlm2vla/adapter_model.safetensors"):
        assert ignored(dropped), dropped
