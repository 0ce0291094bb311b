"""`vlm2vla sim ...`: the oracle's rates, a rendered frame, clear errors."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from harness.cli.main import app

runner = CliRunner()


def test_sim_oracle_prints_rates_and_writes_a_summary(tmp_path):
    r = runner.invoke(app, ["sim", "oracle", "--task", "pickup", "--trials", "1", "--no-gif", "--out", str(tmp_path),
                            "--require", "1.0"])
    assert r.exit_code == 0, r.output
    assert "pickup" in r.stdout and "100%" in r.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary[0]["task"] == "pickup" and summary[0]["successes"] == 1
    assert (tmp_path / "pickup" / "trials.jsonl").exists() and not list(tmp_path.rglob("*.gif"))


def test_sim_render_writes_a_png(tmp_path):
    out = tmp_path / "frame.png"
    r = runner.invoke(app, ["sim", "render", "--task", "pickup-ash", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert Image.open(out).size == (640, 480) and "ash-figure at x=" in r.stdout


def test_sim_needs_a_sim_robot_and_a_known_task():
    r = runner.invoke(app, ["sim", "render", "--robot", "widowx"])
    assert r.exit_code == 2 and "backend 'widowx'" in r.stderr
    r = runner.invoke(app, ["sim", "oracle", "--task", "juggle"])
    assert r.exit_code == 2 and "no spec named 'juggle'" in r.stderr


def test_sim_bench_reports_its_numbers(tmp_path):
    out = tmp_path / "bench.json"
    r = runner.invoke(app, ["sim", "bench", "--task", "pickup", "--trials", "1", "--frames", "2", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "ms/frame" in r.stdout and "cycles/s" in r.stdout
    b = json.loads(out.read_text())
    assert b["render_ms_mean"] > 0 and b["cycles_per_s_physics"] > b["cycles_per_s_render"] > 0
    assert b["cycles"] == 2 * 3  # one pickup trial (3 sub-tasks) per variant
