"""`vlm2vla data ...` from the command line: fixture, build, inspect, and the errors a user sees."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from harness.cli.main import app

runner = CliRunner()


def test_fixture_build_inspect(tmp_path):
    raw, out = tmp_path / "raw", tmp_path / "dlan"
    r = runner.invoke(app, ["data", "fixture", "--out", str(raw), "--episodes", "4", "--corrupt", "1"])
    assert r.exit_code == 0, r.output
    assert "4 trajectories + 1 corrupt" in r.output
    info = json.loads((raw / "fixture.json").read_text())
    mtimes = sorted(p.stat().st_mtime_ns for p in raw.rglob("*.pkl"))
    r = runner.invoke(app, ["data", "fixture", "--out", str(raw), "--episodes", "4", "--corrupt", "1"])
    assert r.exit_code == 0 and sorted(p.stat().st_mtime_ns for p in raw.rglob("*.pkl")) == mtimes, "idempotent"

    r = runner.invoke(app, ["data", "build", "--source", str(raw), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "5 episodes found, 4 processed, 0 unchanged, 1 skipped" in r.output and "card:" in r.output
    r = runner.invoke(app, ["data", "build", "--source", str(raw), "--out", str(out), "--no-progress"])
    assert "0 processed, 5 unchanged" in r.output

    r = runner.invoke(app, ["data", "inspect", str(out), "--episode", "1", "--stages", "subtasks,action"])
    assert r.exit_code == 0, r.output
    assert "prompt: Instruction:" in r.output and "least-likely digits:" in r.output and "--- plan" not in r.output
    eid = [t["episode_id"] for t in info["trajectories"] if not t["corrupt"]][0]
    r = runner.invoke(app, ["data", "inspect", str(out), "--episode", eid])
    assert r.exit_code == 0 and f"showing {eid}" in r.output
    r = runner.invoke(app, ["data", "inspect", str(out), "--episode", "bridge_data_v2"])
    assert r.exit_code == 2 and "matches 4 episodes" in r.output


def test_errors_are_clear(tmp_path):
    r = runner.invoke(app, ["data", "build", "--source", str(tmp_path / "nope"), "--out", str(tmp_path / "o"),
                            "--no-progress"])
    assert r.exit_code == 2 and "no such directory" in r.output
    r = runner.invoke(app, ["data", "build", "--source", str(tmp_path), "--annotator", "magic"])
    assert r.exit_code == 2 and "expected rules or gemini" in r.output
    r = runner.invoke(app, ["data", "build", "--source", str(tmp_path), "--spec", "nope", "--no-progress"])
    assert r.exit_code == 2 and "no spec named 'nope'" in r.output
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("mine")
    r = runner.invoke(app, ["data", "fixture", "--out", str(tmp_path / "busy")])
    assert r.exit_code == 2 and "not empty" in r.output
    r = runner.invoke(app, ["data", "inspect", str(tmp_path / "empty")])
    assert r.exit_code == 2 and "no usable episodes" in r.output
