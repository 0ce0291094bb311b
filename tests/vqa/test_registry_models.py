"""The embedded suite end to end on the registry's real models (skipped until harness.models is in the checkout)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.records import CHANCE_MODEL, VQAScoreRow, read_rows

pytestmark = pytest.mark.slow


def test_tiny_model_runs_the_embedded_suite(results):
    r = CliRunner().invoke(app, ["vqa", "--model", "tiny", "--suite", "embedded", "--limit", "4", "--quiet"])
    assert r.exit_code == 0, r.stderr
    rows = read_rows(results / "vqa" / "scores.csv", VQAScoreRow)
    heads = [x for x in rows if x.metric == "Overall" and x.model != CHANCE_MODEL]
    assert len(heads) == 7 and {x.model for x in heads} == {"tiny"}
    assert all(x.judge == "exact_matching" for x in heads)
    chance = [x for x in rows if x.metric == "Overall" and x.model == CHANCE_MODEL]
    assert {x.benchmark for x in chance} == {x.benchmark for x in heads}  # every benchmark's constant-answer score


def test_batched_and_one_at_a_time_answers_agree_on_tiny(results):
    r = CliRunner().invoke(app, ["vqa", "bench", "--model", "tiny", "--n", "8", "--batch-size", "4"])
    assert r.exit_code == 0, r.stderr
    assert "identical answers: 8/8" in r.stdout
