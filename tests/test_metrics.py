"""Retention has one definition (`harness.records.metrics`); the VQA runs, the reports and the probe grid agree."""

from __future__ import annotations

import math

import pytest

from harness.records import CHANCE_MODEL, VQAScoreRow
from harness.records.metrics import retention_pct


@pytest.mark.parametrize("score, base, chance, expected", [
    (90.0, 60.0, None, 150.0), (30.0, 60.0, 25.0, 50.0),
    (50.0, 0.0, None, None),  # a base scoring 0 has nothing to retain
    (900.0, 700.0, 700.0, None), (900.0, 650.0, 700.0, None),  # at or below chance (MME: "Yes" to all)
])
def test_retention_rule(score, base, chance, expected):
    got = retention_pct(score, base, chance)
    assert got == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize("base, chance", [(60.0, 25.0), (25.0, 25.0), (0.0, None)])
def test_vqa_runs_and_reports_agree(base, chance):
    from harness.reports.entry import OURS
    from harness.reports.vqa import Score
    from harness.reports.vqa import retention as report_retention
    from harness.vqa.scores import retention as run_retention

    def row(model, score):
        return VQAScoreRow(model=model, suite="s", benchmark="B", label="B", metric="Overall", score=score, scale="%",
                           judge="exact", n=10, date="2025-01-01", git_sha="", run_dir="r")

    rows = [row("tuned", 45.0), row("base", base)] + ([row(CHANCE_MODEL, chance)] if chance is not None else [])
    (ours,) = run_retention(rows, "tuned", "base", "s")
    tuned, ref = Score(OURS, "s", "B", "tuned", 45.0, "%", "Overall"), Score(OURS, "s", "B", "base", base, "%", "x")
    floor = {("s", "B"): Score(OURS, "s", "B", CHANCE_MODEL, chance, "%", "x")} if chance is not None else {}
    import harness.reports.vqa as vqa

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vqa, "base_model", lambda m: "base" if m == "tuned" else None)
        reported = report_retention([tuned, ref], floor)[tuned][1]
    assert ours.retention_pct == reported == retention_pct(45.0, base, chance)


def test_the_probe_grid_writes_nan_where_there_is_no_retention():
    from harness.mechanism.grid import probe_retention

    class _R:  # the two fields retention reads
        def __init__(self, acc):
            self.probe_accuracy = acc

    assert probe_retention(_R(0.5), _R(0.25)) == pytest.approx(200.0)
    assert math.isnan(probe_retention(_R(0.5), _R(0.0)))
