"""The SQLite trial log: durable rows, no duplicate final score, redo attempts, resume point, export, status."""

from __future__ import annotations

import sqlite3

import pytest

from harness.records import PairRow, TrialRow, read_rows
from harness.robot.triallog import DuplicateScoreError, PairRecord, TrialLog, TrialRecord


def rec(k: int, outcome: str = "success", model: str = "m", blind_label: str = "policy A", **kw) -> TrialRecord:
    return TrialRecord(session_id="s1", task="pickup", model=model, robot="dry-run", operator="human",
                       blind_label=blind_label, schedule_seed=101, trial_index=k, instruction="pick up the carrot",
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
                         "validator, stop_reason, decisions, scene, frames_path, log_path, 99, scored_at, progress, superseded, env "
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


# The schema-1 trial log as it was written before issue 19 (no progress, no superseded, no pairs, no validity).
SCHEMA_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY, task TEXT NOT NULL, models TEXT NOT NULL, labels TEXT NOT NULL,
    robot TEXT NOT NULL, operator TEXT NOT NULL, validator TEXT NOT NULL, session_seed INTEGER NOT NULL,
    schedule_seed INTEGER NOT NULL, trials INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
    end_reason TEXT
);
CREATE TABLE trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL, robot TEXT NOT NULL, operator TEXT NOT NULL,
    blind_label TEXT NOT NULL, schedule_seed INTEGER NOT NULL, trial_index INTEGER NOT NULL, instruction TEXT NOT NULL,
    language TEXT NOT NULL, outcome TEXT NOT NULL, note TEXT NOT NULL, started_at TEXT NOT NULL,
    duration_s REAL NOT NULL, cycles INTEGER NOT NULL, retries INTEGER NOT NULL, parse_failures INTEGER NOT NULL,
    proceeds INTEGER NOT NULL, ik_failures INTEGER NOT NULL, envelope_clipped INTEGER NOT NULL,
    envelope_rejected INTEGER NOT NULL, validator TEXT NOT NULL, stop_reason TEXT NOT NULL, decisions TEXT NOT NULL,
    scene TEXT NOT NULL, frames_path TEXT NOT NULL, log_path TEXT NOT NULL, attempt INTEGER NOT NULL,
    scored_at TEXT NOT NULL,
    CHECK (outcome IN ('success', 'failure', 'invalid', 'skip')),
    UNIQUE (task, model, schedule_seed, trial_index, attempt)
);
CREATE UNIQUE INDEX one_final_score ON trials (task, model, schedule_seed, trial_index)
    WHERE outcome IN ('success', 'failure', 'skip');
INSERT INTO meta VALUES ('schema_version', '1');
INSERT INTO sessions VALUES ('old', 'pickup', '["m"]', '{"m": "policy A"}', 'dry-run', 'human', 'none', 0, 101, 3,
    '2025-01-01T00:00:00+00:00', '2025-01-01T01:00:00+00:00', 'complete');
"""


def _old_row(k: int, outcome: str, attempt: int = 1) -> str:
    return (f"INSERT INTO trials VALUES (NULL, 'old', 'pickup', 'm', 'dry-run', 'human', 'policy A', 101, {k}, "
            f"'pick up the carrot', 'en', '{outcome}', 'n{k}', '2025-01-01T00:00:00+00:00', 1.5, 2, 0, 0, 1, 0, 0, 0, "
            f"'none', 'policy_done', '[]', '{{}}', 'f', 'l', {attempt}, '2025-01-01T00:00:01+00:00');")


def test_a_schema_1_database_still_reads_reports_and_migrates(tmp_path):
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as c:
        c.executescript(SCHEMA_1 + _old_row(0, "success") + _old_row(1, "invalid") + _old_row(1, "failure", 2))
    log = TrialLog(db)
    got = [(r.trial_index, r.outcome, r.note, r.attempt, r.progress, r.superseded) for r in log.rows()]
    assert got == [(0, "success", "n0", 1, None, ""), (1, "invalid", "n1", 1, None, ""),
                   (1, "failure", "n1", 2, None, "")]
    (p,) = log.progress()
    assert (p.planned, p.scored, p.success, p.failure, p.invalid) == (3, 2, 1, 1, 1)
    rows = read_rows(log.export_csv(tmp_path / "trials.csv"), TrialRow)
    assert [(r.outcome, r.progress, r.superseded) for r in rows] == [("success", None, ""), ("invalid", None, ""),
                                                                     ("failure", None, "")]
    assert log.conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    # the rebuilt final-score index lets a redo supersede an old score, and still refuses a second live one
    (first,) = [r for r in log.rows() if r.trial_index == 0]
    log.supersede(first.id, "redone")
    assert log.record(rec(0, "failure", progress=50)).attempt == 2
    with pytest.raises(DuplicateScoreError):
        log.record(rec(0, "success"))
    log.close()
    again = TrialLog(db)  # opening a migrated database again changes nothing
    assert len(again.rows()) == 4 and again.first_unscored("pickup", "m", 101, 3) == 2


def test_redo_supersedes_and_a_void_session_stops_counting(tmp_path):
    log = TrialLog(tmp_path / "t.sqlite")
    log.start_session("s1", "pickup", ["m", "n"], {"m": "policy A", "n": "policy B"}, "dry-run", "human", "none",
                      0, 101, 2)
    a = log.record(rec(0, "success", progress=100))
    b = log.record(rec(0, "failure", model="n", blind_label="policy B", progress=25))
    pair = log.record_pair(PairRecord("s1", "pickup", 101, 0, "m", "n", a.id, b.id, "A", "cleaner grasp"))
    with pytest.raises(DuplicateScoreError, match="already have a preference"):
        log.record_pair(PairRecord("s1", "pickup", 101, 0, "m", "n", a.id, b.id, "tie"))
    assert log.unpaired("pickup", 101, ["m", "n"]) == []
    assert log.last_final("s1").id == b.id
    log.supersede(b.id, "redone")
    assert log.scored("pickup", "n", 101) == set() and log.last_final("s1").id == a.id
    assert log.pairs()[0].superseded == "redone" and log.export_pair_rows() == []  # the pair compared the old run
    b2 = log.record(rec(0, "success", model="n", blind_label="policy B", progress=100))
    assert [(x.id, y.id) for x, y in log.unpaired("pickup", 101, ["m", "n"])] == [(a.id, b2.id)]
    log.record_pair(PairRecord("s1", "pickup", 101, 0, "m", "n", a.id, b2.id, "tie"))
    (row,) = read_rows(log.export_pairs_csv(tmp_path / "pairs.csv"), PairRow)
    assert row == PairRow("s1", "pickup", 0, "m", "n", str(a.id), str(b2.id), "tie", "")
    assert pair.id and log.invalidate_session("s1", "camera moved") == 2  # the live ones
    assert log.invalid_sessions() == {"s1": "camera moved"}
    assert {r.superseded for r in log.rows()} == {"redone", "session invalid: camera moved"}
    assert log.scored("pickup", "m", 101) == set() and log.progress() == [] and log.export_pair_rows() == []
    with pytest.raises(ValueError, match="progress 150"):
        rec(1, progress=150)


def test_the_success_table_leaves_superseded_rows_out(tmp_path):
    from harness.reports.success import our_cells

    log = TrialLog(tmp_path / "t.sqlite")
    log.record(rec(0, "success"))
    old = log.record(rec(1, "success"))
    log.supersede(old.id, "redone")
    log.record(rec(1, "failure", progress=25))
    (cell,), problems, dropped = our_cells(log.export_rows())
    assert (cell.counts.success, cell.counts.failure, problems, dropped) == (1, 1, [], 0)


def test_a_scored_trial_records_its_environment_and_the_export_carries_it(tmp_path):
    """Issue 19: every result row says what produced it; a trial's fingerprint is kept in the log (another process
    exports it) and written beside the exported CSV."""
    import json

    from harness.records.environment import SIDECAR, env_of

    env = env_of(None)
    log = TrialLog(tmp_path / "t.sqlite")
    log.record(rec(0, "success", env=env))
    from harness.records import environment

    environment._KNOWN.clear()  # as in a later `vlm2vla trials export`: only the log knows the fingerprint
    out = TrialLog(tmp_path / "t.sqlite").export_csv(tmp_path / "out" / "trials.csv")
    (row,) = read_rows(out, TrialRow)
    assert row.env == env
    sidecar = json.loads((out.parent / SIDECAR).read_text())
    assert env in sidecar and sidecar[env]["torch"]
