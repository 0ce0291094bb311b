"""`vlm2vla bench policy` and `vlm2vla robot-trials` with a model policy and the model's own validator."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.records import PolicyBenchRow, read_rows
from tests.dlan_fixture import write_dlan

runner = CliRunner()

FAST_TINY = """description: tiny with short budgets (tests)
type: gemma3
base: embedded:tiny
dtype: float32
image_size: 32
generation:
  subtasks: {max_new_tokens: 10}
  plan: {max_new_tokens: 6}
  action: {max_new_tokens: 40}
"""


@pytest.fixture
def env(tmp_path, monkeypatch, experiments_copy):
    (experiments_copy / "models" / "tiny-fast.yaml").write_text(FAST_TINY)
    task = (experiments_copy / "tasks" / "pickup.yaml").read_text().replace("cycle_budget: 12", "cycle_budget: 3")
    (experiments_copy / "tasks" / "pickup.yaml").write_text(task)
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path / "results"))
    return tmp_path


def test_bench_policy_writes_rows_for_all_three_variants(env):
    data = write_dlan(env / "dlan", episodes=2)
    out = env / "bench.csv"
    r = runner.invoke(app, ["bench", "policy", "--model", "tiny-fast", "--cycles", "2", "--warmup", "0",
                            "--data", str(data), "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    rows = read_rows(out, PolicyBenchRow)
    assert sorted((x.variant, x.cycle) for x in rows) == [("baseline", 0), ("baseline", 1), ("optimized", 0),
                                                          ("optimized", 1), ("peer", 0), ("peer", 1)]
    assert all(x.forward_passes > 0 and x.prefill_tokens > 0 and x.wall_s > 0 for x in rows)
    assert not any(x.malformed for x in rows if x.variant == "optimized")
    assert "optimized / baseline: median wall x" in r.output and "optimized / peer: median wall x" in r.output
    assert "target median cycle wall <= 0.5x peer" in r.output
    assert re.search(r"malformed +truncated$", r.output, re.M)  # chunks a bound ended: counted per variant
    assert all(re.search(rf"^{v} .* \d/2 +\d/2$", r.output, re.M) for v in ("baseline", "optimized", "peer")), r.output


def test_bench_policy_runs_the_variants_asked_for(env):
    data = write_dlan(env / "dlan", episodes=1)
    out = env / "bench.csv"
    r = runner.invoke(app, ["bench", "policy", "--model", "tiny-fast", "--cycles", "1", "--warmup", "0",
                            "--data", str(data), "--out", str(out), "--no-progress", "--variants", "baseline,optimized"])
    assert r.exit_code == 0, r.output
    assert {x.variant for x in read_rows(out, PolicyBenchRow)} == {"baseline", "optimized"}
    assert "optimized / peer" not in r.output and "target" not in r.output
    r = runner.invoke(app, ["bench", "policy", "--model", "tiny-fast", "--data", str(data), "--variants", "fast"])
    assert r.exit_code == 2 and "choose among" in r.output


def test_bench_policy_runs_the_baseline_on_every_nth_cycle(env):
    data = write_dlan(env / "dlan", episodes=2)
    out = env / "bench.csv"
    r = runner.invoke(app, ["bench", "policy", "--model", "tiny-fast", "--cycles", "5", "--warmup", "0",
                            "--data", str(data), "--out", str(out), "--no-progress", "--variants",
                            "baseline,optimized", "--baseline-every", "2"])
    assert r.exit_code == 0, r.output
    rows = read_rows(out, PolicyBenchRow)
    assert sorted(x.cycle for x in rows if x.variant == "baseline") == [0, 2, 4]
    assert sorted(x.cycle for x in rows if x.variant == "optimized") == [0, 1, 2, 3, 4]
    assert "shares a factor with the 2 observations" in r.output  # 2 | 2: the baseline would see one input only
    assert re.search(r"^baseline +3 ", r.output, re.M), r.output
    assert "optimized / baseline: median wall x" in r.output and "(over the baseline's 3 cycles)" in r.output


def test_a_benchmark_split_over_processes_joins_into_the_whole(env):
    """Cycles 0-1 and 2-3 measured apart, joined, are the cycles one run measures: same inputs and seeds, so the
    same forward passes and tokens per (variant, cycle)."""
    data = write_dlan(env / "dlan", episodes=3)
    args = ["bench", "policy", "--model", "tiny-fast", "--warmup", "0", "--data", str(data), "--no-progress",
            "--variants", "optimized,peer"]
    whole, first, second, joined = (env / f"{n}.csv" for n in ("whole", "first", "second", "joined"))
    for extra in (["--cycles", "4", "--out", str(whole)], ["--cycles", "2", "--out", str(first)],
                  ["--cycles", "2", "--first-cycle", "2", "--out", str(second)]):
        r = runner.invoke(app, args + extra)
        assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["bench", "join", str(first), str(second), "--out", str(joined)])
    assert r.exit_code == 0 and "8 rows from 2 part(s)" in r.output, r.output

    def key(path):
        return sorted((x.variant, x.cycle, x.forward_passes, x.prefill_tokens, x.generated_tokens)
                      for x in read_rows(path, PolicyBenchRow))

    assert key(joined) == key(whole)
    r = runner.invoke(app, ["bench", "join", str(first), str(whole), "--out", str(env / "bad.csv")])
    assert r.exit_code == 2 and "cycle 0 is also in" in r.output


def test_bench_policy_errors(env):
    r = runner.invoke(app, ["bench", "policy", "--model", "tiny-fast", "--data", str(env / "nowhere")])
    assert r.exit_code == 2 and "no D_lan shards" in r.output
    r = runner.invoke(app, ["bench", "policy", "--model", "scripted", "--data", str(write_dlan(env / "d", 1))])
    assert r.exit_code == 2


def test_robot_trials_with_the_model_and_its_own_validator(env):
    r = runner.invoke(app, ["robot-trials", "--task", "pickup", "--model", "tiny-fast", "--robot", "dry-run",
                            "--operator", "human", "--trials", "1", "--validator", "self",
                            "--db", str(env / "t.sqlite")], input="f\n\n")
    assert r.exit_code == 0, r.output
    logs = list((env / "results" / "robot").rglob("cycles.jsonl"))
    lines = [json.loads(x) for x in logs[0].read_text().splitlines()]
    cycles = [x for x in lines if x["event"] == "cycle"]
    assert len(cycles) >= 1 and lines[-1]["stop_reason"] in ("policy_done", "cycle_budget")
    for c in cycles:
        assert c["chunk"] is not None, c.get("parse_error")  # constrained: every chunk parses
        assert c["decision"]["source"] == "self" and c["decision"]["reason"]
        assert {"plan", "action"} <= set(c["texts"]) and c["stats"]["forward_passes"] > 0
        assert c["stats"]["action_truncated"] in (0.0, 1.0)  # a chunk a bound ended is on record


def test_validator_errors_come_before_anything_loads(env, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    r = runner.invoke(app, ["robot-trials", "--task", "pickup", "--model", "tiny-fast", "--robot", "dry-run",
                            "--validator", "gemini", "--db", str(env / "t.sqlite")])
    assert r.exit_code == 2 and "GEMINI_API_KEY is not set" in r.output
    r = runner.invoke(app, ["robot-trials", "--task", "pickup", "--model", "scripted", "--robot", "dry-run",
                            "--validator", "self", "--db", str(env / "t.sqlite")])
    assert r.exit_code == 2 and "has none" in r.output
