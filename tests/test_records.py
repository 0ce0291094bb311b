from __future__ import annotations

import pytest

from harness.records import PolicyBenchRow, TrainLogRow, append_rows, read_rows, write_rows


def test_round_trip_typed(tmp_path):
    rows = [PolicyBenchRow("m", "baseline", 0, 1.5, 40, 200, 38, False),
            PolicyBenchRow("m", "optimized", 0, 0.9, 20, 60, 38, True)]
    path = write_rows(tmp_path / "b.csv", rows, PolicyBenchRow)
    assert read_rows(path, PolicyBenchRow) == rows


def test_append_checks_columns_and_is_incremental(tmp_path):
    path = tmp_path / "log.csv"
    append_rows(path, [TrainLogRow(1, 0.1, 2.5, 5e-5, 100, 1.0)], TrainLogRow)
    append_rows(path, [TrainLogRow(2, 0.2, 2.0, 4e-5, 200, 2.0)], TrainLogRow)
    assert [r.step for r in read_rows(path, TrainLogRow)] == [1, 2]
    with pytest.raises(ValueError, match="do not match PolicyBenchRow"):
        append_rows(path, [], PolicyBenchRow)


def test_read_names_the_file_on_bad_data(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("step,epoch,loss,lr,tokens,elapsed_s\n1,0.1,nan?,1,1,1\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        read_rows(path, TrainLogRow)
    path.write_text("step\n1\n")
    with pytest.raises(ValueError, match="missing columns"):
        read_rows(path, TrainLogRow)


def test_columns_added_later_with_defaults_may_be_absent(tmp_path):
    from harness.records import TrialRow

    path = tmp_path / "old.csv"
    old = ["session_id", "task", "model", "robot", "operator", "blind_label", "schedule_seed", "trial_index",
           "instruction", "language", "outcome", "note", "started_at", "duration_s", "cycles", "retries",
           "parse_failures", "frames_path", "log_path"]
    path.write_text(",".join(old) + "\ns,pickup,m,sim,auto,A,1,0,pick,en,success,,t,1.0,2,0,0,f,l\n")
    (row,) = read_rows(path, TrialRow)
    assert row.outcome == "success" and row.attempt == 1 and row.stop_reason == ""


def test_outcome_names_are_plain_strings():
    """They are spliced into the trial log's SQL schema and into messages: a member's repr must not leak there."""
    from harness.records.outcomes import FINAL_OUTCOMES, OUTCOMES, STOP_REASONS, Outcome

    assert all(type(o) is str for o in (*OUTCOMES, *FINAL_OUTCOMES, *STOP_REASONS))
    assert repr(OUTCOMES[0]) == "'success'" and Outcome.SUCCESS == "success"


def test_append_upgrades_a_file_written_before_a_column_with_a_default_was_added(tmp_path):
    """A resumed run appends to its log from before the `env` column existed: the file gains the column (old rows
    get the default) instead of the run failing on a header mismatch."""
    import csv
    from dataclasses import fields

    from harness.records import TrainLogRow, append_rows, read_rows

    path = tmp_path / "log.csv"
    old = [f.name for f in fields(TrainLogRow) if f.name != "env"]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(old)
        w.writerow([{"step": 1, "epoch": 0.5}.get(k, 0) for k in old])
    append_rows(path, [TrainLogRow(step=2, epoch=1.0, loss=0.5, lr=1e-3, tokens=10, elapsed_s=1.0)], TrainLogRow)
    rows = read_rows(path, TrainLogRow)
    assert [r.step for r in rows] == [1, 2] and rows[0].env == ""
    with path.open(newline="") as f:
        assert next(csv.reader(f)) == [f.name for f in fields(TrainLogRow)]
