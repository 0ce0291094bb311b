"""The SQLite trial log: durable rows, no duplicate final score, redo attempts, resume point, export, status."""

from __future__ import annotations

import sqlite3

import pytest

from harness.records import TrialRow, read_rows
from harness.robot.triallog import DuplicateScoreError, TrialLog, TrialRecord


def rec(k: int, outcome: str = "success", model: str = "m", **kw) -> TrialRecord:
    return TrialRecord(session_id="s1", task="pickup", model=model, robot="dry-run", operator="human",
                       blind_label="policy A", schedule_seed=101, trial_index=k, instruction="pick up the carrot",
                       language="en", outcome=outcome, **kw)


def test_wal_and_committed_rows_visible_to_another_connection(tmp_path):
    db = tmp_path / "t.sqlite"
    log = TrialLog(db)
    assert log.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    log.record(rec(0, note="12", decisions=[{"cycle": 1, "action": "retry"}], scene={"positions": {"a": [0.3, 0]}}))
    other = TrialLog(db)  # a second process would see exactly this
    (row,) = other.rows()
    assert row.note == "12" and isinstance(row.note, str)  # TEXT column: no numeric coercion
    assert row.decisions == [{"cycle": 1, "action": "retry"}] and row.scene["positions"]["a"] == [0.3, 0]
    assert row.attempt == 1 and row.scored_at


def test_final_score_is_unique_and_invalid_repeats(tmp_path):
    log = TrialLog(tmp_path / "t.sqlite")
    assert log.record(rec(0, "invalid")).attempt == 1
    assert log.record(rec(0, "invalid")).attempt == 2
    assert log.first_unscored("pickup", "m", 101, 5) == 0  # invalid = still to do
    assert log.record(rec(0, "failure")).attempt == 3
    with pytest.raises(DuplicateScoreError, match="already scored 'failure'"):
        log.record(rec(0, "success"))
    assert [r.outcome for r in log.rows()] == ["invalid", "invalid", "failure"]
    # the database itself refuses a second final score, whoever writes it
    with pytest.raises(sqlite3.IntegrityError):
        log.conn.execute("INSERT INTO trials SELECT NULL, session_id, task, model, robot, operator, blind_label, "
                         "schedule_seed, trial_index, instruction, language, 'success', note, started_at, duration_s, "
                         "cycles, retries, parse_failures, proceeds, ik_failures, envelope_clipped, envelope_rejected, "
                         "validator, stop_reason, decisions, scene, frames_path, log_path, 99, scored_at, progress, superseded "
                         "FROM trials "
                         "WHERE attempt = 3")
    with pytest.raises(ValueError, match="outcome 'great'"):
        rec(1, "great")


def test_resume_point_per_task_model_seed(tmp_path):
    log = TrialLog(tmp_path / "t.sqlite")
    for k in (0, 1, 3):
        log.record(rec(k, "skip" if k == 3 else "success"))
    log.record(rec(0, model="other"))
    assert log.first_unscored("pickup", "m", 101, 5) == 2
    assert log.scored("pickup", "m", 101) == {0, 1, 3}
    assert log.first_unscored("pickup", "other", 101, 5) == 1
    assert log.first_unscored("pickup", "m", 999, 5) == 0  # another schedule seed is another series
    for k in (2, 4):
        log.record(rec(k, "failure"))
    assert log.first_unscored("pickup", "m", 101, 5) is None


def test_export_is_trialrow_csv_and_status_counts(tmp_path):
    log = TrialLog(tmp_path / "t.sqlite")
    log.start_session("s1", "pickup", ["m"], {"m": "policy A"}, "dry-run", "human", "none", 0, 101, 4)
    log.record(rec(0, "success", cycles=3, retries=1, parse_failures=1, duration_s=2.5))
    log.record(rec(1, "invalid"))
    log.record(rec(1, "failure"))
    out = log.export_csv(tmp_path / "trials.csv")
    rows = read_rows(out, TrialRow)
    assert [(r.trial_index, r.outcome, r.attempt) for r in rows] == [(0, "success", 1), (1, "invalid", 1),
                                                                     (1, "failure", 2)]
    assert rows[0].cycles == 3 and rows[0].retries == 1 and rows[0].parse_failures == 1
    (p,) = log.progress()
    assert (p.planned, p.scored, p.success, p.failure, p.invalid, p.success_rate) == (4, 2, 1, 1, 1, 0.5)


def test_corrupt_database_is_named(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(RuntimeError, match="bad.sqlite: not a usable trial database"):
        TrialLog(bad)
