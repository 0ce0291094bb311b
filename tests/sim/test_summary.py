"""The oracle's per-task summary: aggregation, the printed table, summary.json, the required rate."""

from __future__ import annotations

import json

import pytest

from harness.sim.rollout import TrialOutcome
from harness.sim.summary import TaskSummary, below, default_out, table, write_summary


def _outcome(i: int, success: bool, cycles: int, ik: int = 0) -> TrialOutcome:
    return TrialOutcome("pickup", i, success, cycles, 2 * cycles, ik, 0, 1.0)


def test_a_task_summary_counts_its_trials():
    s = TaskSummary.of("pickup", [_outcome(0, True, 3), _outcome(1, False, 5, ik=2), _outcome(2, True, 4)])
    assert (s.trials, s.successes, s.ik_failures, s.failed_trials) == (3, 2, 2, [1])
    assert s.rate == pytest.approx(2 / 3) and s.mean_cycles == pytest.approx(4.0)
    with pytest.raises(ValueError, match="'pickup': no trial outcomes"):
        TaskSummary.of("pickup", [])


def test_table_summary_file_and_required_rate(tmp_path):
    rows = [TaskSummary.of("pickup", [_outcome(0, True, 3)]),
            TaskSummary.of("pick-and-place", [_outcome(0, False, 12), _outcome(1, True, 8)])]
    lines = table(rows).splitlines()
    assert lines[0].split() == ["task", "success", "rate", "cycles", "failed", "trials"]
    assert lines[1].split() == ["pickup", "1/1", "100%", "3.0", "-"]
    assert lines[2].split() == ["pick-and-place", "1/2", "50%", "10.0", "[0]"]
    written = json.loads(write_summary(tmp_path / "run", rows).read_text())
    assert written[1] == {"task": "pick-and-place", "trials": 2, "successes": 1, "rate": 0.5, "mean_cycles": 10.0,
                          "ik_failures": 0, "failed_trials": [0]}
    assert below(rows, 0.9) == ["pick-and-place"] and below(rows, 0.5) == []


def test_default_out_follows_the_results_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path))
    assert default_out(3) == tmp_path / "sim" / "oracle" / "seed3"
