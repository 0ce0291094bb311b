"""The forgetting grid's plumbing on the tiny model (1 step per arm): four arms that differ only in representation
and method, the base row, the printed choice and table, resuming only what is missing, refusing mixed settings."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.mechanism.grid import (
    ARMS,
    ArmResult,
    GridResult,
    plan_grid,
    restart,
    run_grid,
)
from harness.mechanism.verdict import paired_difference, paper_claim
from harness.records import ForgettingRow, TrainLogRow, read_rows

ARGS = ["--steps", "1", "--probe-limit", "6", "--heldout-limit", "2", "--no-progress"]


@pytest.fixture(scope="module")
def grid(dlan_heldout, tmp_path_factory):
    root = tmp_path_factory.mktemp("grid")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLM2VLA_RUNS", str(root / "runs"))
        mp.setenv("VLM2VLA_RESULTS", str(root / "results"))
        result = CliRunner().invoke(app, ["forgetting", "--model", "tiny", "--data", str(dlan_heldout), *ARGS])
        yield root, result


def _plan(dlan):
    return plan_grid("tiny", dlan, steps=1, probe_limit=6, heldout_limit=2)


def test_cli_prints_its_choices_the_table_and_the_claim(grid):
    _, result = grid
    assert result.exit_code == 0, result.output
    out = result.output
    assert "1 optimiser steps each" in out and "6 of 384 items" in out and "held-out action examples: 2" in out
    for arm in ["base", *(a.name for a in ARMS)]:
        assert f"\n{arm} " in out
    assert "retention" in out and "paper's claim" in out and "a model that never moves" in out


def test_csv_holds_the_base_and_the_four_arms(grid):
    root, _ = grid
    rows = read_rows(root / "results" / "mechanism" / "forgetting_tiny.csv", ForgettingRow)
    assert [r.arm for r in rows] == ["base", "verbalized-lora", "verbalized-full", "least_likely-lora",
                                     "least_likely-full"]
    assert [(r.representation, r.method) for r in rows[1:]] == [(a.representation, a.method) for a in ARMS]
    assert rows[0].method == "none" and rows[0].steps == 0 and all(r.steps == 1 for r in rows[1:])
    assert all((r.n_probe, r.n_heldout, r.seed) == (6, 2, 0) for r in rows)
    assert all(0.0 <= r.probe_score <= 1.0 and 0.0 <= r.action_parse_rate <= 1.0 for r in rows)
    base = rows[0].probe_score
    for r in rows:
        assert (math.isnan(r.retention_pct) if base == 0 else r.retention_pct == pytest.approx(100 * r.probe_score / base))


def test_arms_differ_only_in_representation_and_method(grid):
    root, _ = grid
    runs = {a.name: json.loads((root / "runs" / f"forgetting-tiny-{a.name}" / "run.json").read_text()) for a in ARMS}
    varying = {"name", "description", "method", "optimizer", "lora"}

    def shared(fp):
        return {**{k: v for k, v in fp.items() if k != "action_repr"},
                "recipe": {k: v for k, v in fp["recipe"].items() if k not in varying}}

    assert all(shared(fp) == shared(runs["verbalized-lora"]) for fp in runs.values())
    assert {a.name: runs[a.name]["action_repr"] for a in ARMS} == {
        "verbalized-lora": "verbalized", "verbalized-full": "verbalized",
        "least_likely-lora": "least-likely", "least_likely-full": "least-likely"}
    assert {a.name: runs[a.name]["recipe"]["method"] for a in ARMS} == {a.name: a.method for a in ARMS}
    # the same batches in the same order: equal token counts per step between the two methods of a representation
    logs = {a.name: read_rows(root / "runs" / f"forgetting-tiny-{a.name}" / "log.csv", TrainLogRow) for a in ARMS}
    for rep in ("verbalized", "least_likely"):
        assert [r.tokens for r in logs[f"{rep}-lora"]] == [r.tokens for r in logs[f"{rep}-full"]]
    trained = {a.name: json.loads((root / "runs" / f"forgetting-tiny-{a.name}" / "adapter" / "train.json").read_text())
               for a in ARMS}
    assert {n: set(t["trainable"]) for n, t in trained.items()} == {
        "verbalized-lora": {"lora", "multi_modal_projector"}, "least_likely-lora": {"lora", "multi_modal_projector"},
        "verbalized-full": {"language_model", "lm_head", "multi_modal_projector"},
        "least_likely-full": {"language_model", "lm_head", "multi_modal_projector"}}
    assert len({t["examples"] for t in trained.values()}) == 1
    assert not any((root / "runs" / f"forgetting-tiny-{a.name}" / "checkpoints").exists() for a in ARMS)
    state = root / "results" / "mechanism" / "forgetting_tiny"
    results = {p.stem: ArmResult.load(p) for p in state.glob("*.json")}
    assert set(results["base"].heldout_logprob) == {"verbalized", "least_likely"}
    for a in ARMS:
        assert set(results[a.name].heldout_logprob) == {a.representation}
        assert results[a.name].heldout_logprob[a.representation] < 0


def test_the_trainers_record_is_read_never_rewritten(grid):
    root, _ = grid
    for a in ARMS:
        run = root / "runs" / f"forgetting-tiny-{a.name}"
        assert "cpu_s" not in json.loads((run / "adapter" / "train.json").read_text())  # as the trainer wrote it
        assert json.loads((run / "grid.json").read_text())["cpu_s"] >= 0.0  # the grid's own addition


def test_an_interrupted_grid_reruns_only_the_missing_arm(grid, dlan_heldout, monkeypatch):
    root, _ = grid
    monkeypatch.setenv("VLM2VLA_RUNS", str(root / "runs"))
    monkeypatch.setenv("VLM2VLA_RESULTS", str(root / "results"))
    plan = _plan(dlan_heldout)
    before = ArmResult.load(plan.state_dir / "least_likely-full.json")
    (plan.state_dir / "least_likely-full.json").unlink()  # killed after training, before its result was written
    import shutil

    shutil.rmtree(plan.run_dir("least_likely-full"))  # ... or before its training even finished
    kept = {a.name: (plan.run_dir(a.name) / "adapter" / "train.json").stat().st_mtime_ns for a in ARMS[:3]}
    seen = []
    result = run_grid(plan, progress=False, on_arm=lambda r: seen.append((r.arm, r.cached)))
    assert seen == [("base", True), ("verbalized-lora", True), ("verbalized-full", True),
                    ("least_likely-lora", True), ("least_likely-full", False)]
    assert kept == {a.name: (plan.run_dir(a.name) / "adapter" / "train.json").stat().st_mtime_ns for a in ARMS[:3]}
    again = result.arms[-1]
    assert (again.probe_correct, again.parse_rate, again.samples) == (before.probe_correct, before.parse_rate,
                                                                      before.samples)  # same seed, same result
    assert len(read_rows(plan.csv_path, ForgettingRow)) == 5


def test_other_settings_are_refused_until_restarted(grid, dlan_heldout, monkeypatch):
    root, _ = grid
    monkeypatch.setenv("VLM2VLA_RUNS", str(root / "runs"))
    monkeypatch.setenv("VLM2VLA_RESULTS", str(root / "results"))
    result = CliRunner().invoke(app, ["forgetting", "--model", "tiny", "--data", str(dlan_heldout), "--steps", "2",
                                      "--probe-limit", "6", "--heldout-limit", "2", "--no-progress"])
    assert result.exit_code == 2 and "other settings" in result.output and "--restart" in result.output
    assert "steps" in result.output
    plan = _plan(dlan_heldout)
    restart(plan)
    assert not plan.state_dir.exists() and not plan.csv_path.exists()
    assert not any(plan.run_dir(a.name).exists() for a in ARMS)


def test_recipes_must_give_the_same_data_order(experiments_copy, dlan_heldout):
    recipes = experiments_copy / "recipes"
    (recipes / "other-batch.yaml").write_text(
        (recipes / "forgetting-full-cpu.yaml").read_text().replace("batch_size: 2", "batch_size: 4"))
    with pytest.raises(ValueError, match="batch_size"):
        plan_grid("tiny", dlan_heldout, full_recipe="other-batch")
    with pytest.raises(ValueError, match="method"):
        plan_grid("tiny", dlan_heldout, lora_recipe="forgetting-full-cpu")
    (recipes / "no-steps.yaml").write_text(
        (recipes / "forgetting-full-cpu.yaml").read_text().replace("max_steps: 30", "max_steps: 25"))
    with pytest.raises(ValueError, match="--steps"):
        plan_grid("tiny", dlan_heldout, full_recipe="no-steps")
    assert plan_grid("tiny", dlan_heldout, full_recipe="no-steps", steps=5).steps == 5


def _arm(name: str, correct: list[str], n: int = 100) -> ArmResult:
    rep, method = name.rsplit("-", 1) if name != "base" else ("verbalized", "none")
    return ArmResult(arm=name, representation=rep, method=method, recipe="", steps=1, train_examples=1,
                     skipped_too_long=0, first_loss=None, last_loss=None, train_wall_s=0.0, eval_wall_s=0.0,
                     probe_accuracy=len(correct) / n, probe_answer_logprob=0.0, probe_n=n, probe_correct=correct,
                     probe_by_lang={}, probe_by_category={}, parse_rate=0.0, mae_cm=float("nan"),
                     zero_motion_mae_cm=1.0, n_heldout=1, max_new_tokens=1, samples=[])


@pytest.mark.parametrize("verbalized, least_likely, verdict", [
    (80, 50, "CONSISTENT with the paper"),
    (50, 80, "CONTRADICTS the paper"),
    (80, 78, "NOT CONFIRMED here"),
])
def test_the_paper_claim_line_says_what_was_measured(verbalized, least_likely, verdict):
    ids = [str(i) for i in range(100)]
    base = _arm("base", ids[:90])
    result = GridResult(plan=None, base=base, arms=[_arm("verbalized-lora", ids[:verbalized]),
                                                    _arm("least_likely-lora", ids[:least_likely])])
    lines = paper_claim(result)
    assert len(lines) == 1 and verdict in lines[0]
    assert f"{100 * verbalized / 90:.1f}%" in lines[0]
    only_v, only_t, p = paired_difference(result.arms[0], result.arms[1])
    assert (only_v, only_t) == (max(0, verbalized - least_likely), max(0, least_likely - verbalized))
    assert 0.0 <= p <= 1.0
