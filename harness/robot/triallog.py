"""The durable trial log: one SQLite row per scored trial, committed the moment the score is given.

SQLite in WAL mode with `synchronous=FULL`: a committed score survives a kill -9 of the session (and a power cut).
A row is written in one transaction, so a kill leaves either the whole row or nothing. Keys:

- `UNIQUE(task, model, schedule_seed, trial_index, attempt)`: an attempt is recorded once;
- a partial unique index on (task, model, schedule_seed, trial_index) over final outcomes (success, failure,
  skip): a trial has at most one final score, whatever happens. `invalid` rows ("redo this trial") may repeat,
  each with the next attempt number; the trial stays unscored until a final outcome arrives.

Resume: the trials still to run are those without a final outcome, per (task, model, schedule seed).

Issue 19: a row may carry a partial-success `progress` (0..100, NULL where none was given). A row is never deleted
or changed except to mark it superseded (`superseded` says why): the operator redid the trial, or declared the
whole session invalid (`sessions.invalid_reason`). Superseded rows are kept and exported but count for nothing:
not as a score (the trial runs again), not in the unique final score, not in the reports. The `pairs` table holds
the operator's blind A/B preferences, one row per pair of trials run on the same scene, keyed by both trial ids.
A database written before these columns is migrated when opened (columns added, the final-score index rebuilt).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

from harness.paths import results_dir
from harness.records import PairRow, TrialRow, write_rows
from harness.records.environment import known, remember
from harness.records.outcomes import FINAL_OUTCOMES as FINAL
from harness.records.outcomes import OUTCOMES, Outcome, OutcomeCounts

SCHEMA_VERSION = 2


def default_out() -> Path:
    """Where trial sessions keep their log, its CSV export and each trial's cycle log and frames."""
    return results_dir() / "robot"


def default_db() -> Path:
    return default_out() / "trials.sqlite"


def default_csv() -> Path:
    return default_out() / "trials.csv"


def default_pairs_csv() -> Path:
    return default_out() / "pairs.csv"


_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD. Under a C/POSIX locale Python reads undecodable input
    bytes as surrogates, which SQLite (and a strict terminal) cannot encode: a typed note must never lose a score."""
    return _SURROGATE.sub("\ufffd", text)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class TrialRecord:
    """Everything recorded about one scored trial (the `trials` table; export keeps the `TrialRow` columns)."""

    session_id: str
    task: str
    model: str
    robot: str
    operator: str  # human | auto
    blind_label: str
    schedule_seed: int
    trial_index: int
    instruction: str
    language: str
    outcome: str
    note: str = ""
    started_at: str = ""
    duration_s: float = 0.0
    cycles: int = 0
    retries: int = 0  # validator decisions "retry"
    parse_failures: int = 0
    proceeds: int = 0  # validator decisions "proceed"
    ik_failures: int = 0
    envelope_clipped: int = 0
    envelope_rejected: int = 0
    validator: str = ""
    stop_reason: str = ""  # policy_done | cycle_budget | time_budget | operator_stop
    decisions: list[dict] = field(default_factory=list)  # per cycle: {cycle, action, reason, source}
    scene: dict = field(default_factory=dict)
    frames_path: str = ""
    log_path: str = ""
    attempt: int = 0  # set by the log when the row is written
    scored_at: str = ""
    progress: int | None = None  # partial success 0..100 on the task's rubric; None: not given
    superseded: str = ""  # why this row no longer counts ("" = it counts); set by the log only
    env: str = ""  # environment fingerprint hash (harness.records.environment); the log keeps the fingerprint
    id: int = 0  # the row's id in the log (set when written or read)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome {self.outcome!r} is not one of {', '.join(OUTCOMES)}")
        if self.progress is not None and not 0 <= self.progress <= 100:
            raise ValueError(f"progress {self.progress!r} is not within 0..100")


PREFERENCES = ("A", "B", "tie")


@dataclass
class PairRecord:
    """One blind A/B preference (the `pairs` table): which of two trials on the same scene did better."""

    session_id: str
    task: str
    schedule_seed: int
    scene_index: int  # the trial index both ran
    model_a: str  # the model labelled first ("policy A" of the two)
    model_b: str
    trial_a: int  # trial row ids
    trial_b: int
    preference: str  # A | B | tie
    note: str = ""
    recorded_at: str = ""
    superseded: str = ""
    id: int = 0

    def __post_init__(self) -> None:
        if self.preference not in PREFERENCES:
            raise ValueError(f"preference {self.preference!r} is not one of {', '.join(PREFERENCES)}")


_JSON_FIELDS = {"decisions", "scene"}
_COLUMNS = [f.name for f in fields(TrialRecord) if f.name != "id"]
_PAIR_COLUMNS = [f.name for f in fields(PairRecord) if f.name != "id"]
_SQL_TYPES = {"int": "INTEGER", "float": "REAL", "str": "TEXT"}  # anything else is JSON text
_COLUMN_TYPES = {f.name: _SQL_TYPES.get(str(f.type).removesuffix(" | None"), "TEXT") for f in fields(TrialRecord)}
_NULLABLE = {f.name for f in fields(TrialRecord) if str(f.type).endswith("| None")}
# Columns added after schema 1, with how an older table gets them (ALTER TABLE ... ADD COLUMN).
_ADDED = {"trials": {"progress": "INTEGER", "superseded": "TEXT NOT NULL DEFAULT ''", "env": "TEXT NOT NULL DEFAULT ''"},
          "sessions": {"invalid_reason": "TEXT"}}
_LIVE = "superseded = ''"


def _column(name: str) -> str:
    if name in ("superseded", "env"):
        return f"{name} TEXT NOT NULL DEFAULT ''"
    return f"{name} {_COLUMN_TYPES[name]}" + ("" if name in _NULLABLE else " NOT NULL")


_TABLES = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, task TEXT NOT NULL, models TEXT NOT NULL, labels TEXT NOT NULL,
    robot TEXT NOT NULL, operator TEXT NOT NULL, validator TEXT NOT NULL, session_seed INTEGER NOT NULL,
    schedule_seed INTEGER NOT NULL, trials INTEGER NOT NULL, started_at TEXT NOT NULL, ended_at TEXT,
    end_reason TEXT, invalid_reason TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(_column(c) for c in _COLUMNS)},
    CHECK (outcome IN ({", ".join(repr(o) for o in OUTCOMES)})),
    UNIQUE (task, model, schedule_seed, trial_index, attempt)
);
CREATE TABLE IF NOT EXISTS environments (env TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, session_id TEXT NOT NULL, task TEXT NOT NULL,
    schedule_seed INTEGER NOT NULL, scene_index INTEGER NOT NULL, model_a TEXT NOT NULL, model_b TEXT NOT NULL,
    trial_a INTEGER NOT NULL REFERENCES trials (id), trial_b INTEGER NOT NULL REFERENCES trials (id),
    preference TEXT NOT NULL CHECK (preference IN ({", ".join(repr(p) for p in PREFERENCES)})),
    note TEXT NOT NULL, recorded_at TEXT NOT NULL, superseded TEXT NOT NULL DEFAULT ''
);
"""
# Indexes come after the migration: the final-score index reads a column that a schema-1 table gains only then.
_FINAL_INDEX_WHERE = f"outcome IN ({', '.join(repr(o) for o in FINAL)}) AND {_LIVE}"
_INDEXES = f"""
CREATE UNIQUE INDEX IF NOT EXISTS one_final_score ON trials (task, model, schedule_seed, trial_index)
    WHERE {_FINAL_INDEX_WHERE};
CREATE UNIQUE INDEX IF NOT EXISTS one_preference ON pairs (trial_a, trial_b) WHERE {_LIVE};
"""


def _stored(value: object) -> object:
    return safe_text(value) if isinstance(value, str) else value


class DuplicateScoreError(RuntimeError):
    """A final score for this trial is already in the log (it is never overwritten)."""


@dataclass(frozen=True, kw_only=True)
class Progress(OutcomeCounts):
    """Outcome counts of one task x model x schedule seed, beside the trials its largest session planned."""

    task: str
    model: str
    schedule_seed: int
    planned: int

    @property
    def success_rate(self) -> float | None:
        return self.rate


class TrialLog:
    """The trial database. Open it with `TrialLog(path)`; every write is its own committed transaction."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_db()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.executescript(_TABLES)
            self._migrate()
            self.conn.executescript(_INDEXES)
        except sqlite3.DatabaseError as e:
            raise RuntimeError(f"{self.path}: not a usable trial database ({e}); pass another --db or move the "
                               "file away") from e

    def _migrate(self) -> None:
        """Bring a database of an older schema up to this one, in one transaction (old rows keep their values;
        the new columns read as no progress, not superseded, session valid)."""
        with self._tx() as c:
            for table, added in _ADDED.items():
                have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
                for col, decl in added.items():
                    if col not in have:
                        c.execute(f"ALTER TABLE {table} ADD COLUMN {col} {decl}")
            index = c.execute("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'one_final_score'"
                              ).fetchone()
            if index and _LIVE not in index[0]:  # schema 1: superseded rows would still block a new final score
                c.execute("DROP INDEX one_final_score")
            c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> TrialLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # ---------------------------------------------------------------- sessions
    def start_session(self, session_id: str, task: str, models: list[str], labels: dict[str, str], robot: str,
                      operator: str, validator: str, session_seed: int, schedule_seed: int, trials: int) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO sessions (session_id, task, models, labels, robot, operator, validator, session_seed, "
                      "schedule_seed, trials, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                      (session_id, task, json.dumps(models), json.dumps(labels), robot, operator, validator,
                       session_seed, schedule_seed, trials, now_iso()))

    def end_session(self, session_id: str, reason: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE sessions SET ended_at = ?, end_reason = ? WHERE session_id = ?",
                      (now_iso(), reason, session_id))

    # ---------------------------------------------------------------- trials
    def record(self, rec: TrialRecord) -> TrialRecord:
        """Commit one scored trial and return it with its attempt number. Raises `DuplicateScoreError` if the
        trial already has a final score (nothing is written then)."""
        with self._tx() as c:
            key = (rec.task, rec.model, rec.schedule_seed, rec.trial_index)
            final = c.execute(f"SELECT outcome FROM trials WHERE task=? AND model=? AND schedule_seed=? AND "
                              f"trial_index=? AND {_LIVE} AND outcome IN ({','.join('?' * len(FINAL))})",
                              (*key, *FINAL)).fetchone()
            if final:
                raise DuplicateScoreError(f"trial {rec.trial_index} of {rec.task}/{rec.model} (schedule seed "
                                          f"{rec.schedule_seed}) is already scored {final[0]!r}")
            last = c.execute("SELECT MAX(attempt) FROM trials WHERE task=? AND model=? AND schedule_seed=? AND "
                             "trial_index=?", key).fetchone()[0]
            rec.attempt = (last or 0) + 1
            rec.scored_at = rec.scored_at or now_iso()
            values = [json.dumps(getattr(rec, c_)) if c_ in _JSON_FIELDS else _stored(getattr(rec, c_))
                      for c_ in _COLUMNS]
            cur = c.execute(f"INSERT INTO trials ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                            values)
            rec.id = int(cur.lastrowid)
            if rec.env and (fp := known(rec.env)) is not None:  # the export writes it beside the CSV
                c.execute("INSERT OR IGNORE INTO environments (env, fingerprint) VALUES (?, ?)",
                          (rec.env, json.dumps(fp, sort_keys=True)))
        return rec

    def rows(self, task: str | None = None, model: str | None = None) -> list[TrialRecord]:
        where, args = [], []
        for col, val in (("task", task), ("model", model)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        sql = f"SELECT {', '.join(_COLUMNS)}, id FROM trials"
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = []
        for row in self.conn.execute(sql + " ORDER BY task, model, schedule_seed, trial_index, attempt", args):
            data = {c: (json.loads(v) if c in _JSON_FIELDS else v) for c, v in zip([*_COLUMNS, "id"], row, strict=True)}
            out.append(TrialRecord(**data))
        return out

    def scored(self, task: str, model: str, schedule_seed: int) -> set[int]:
        """Trial indices with a final outcome."""
        cur = self.conn.execute(f"SELECT trial_index FROM trials WHERE task=? AND model=? AND schedule_seed=? AND "
                                f"{_LIVE} AND outcome IN ({','.join('?' * len(FINAL))})",
                                (task, model, schedule_seed, *FINAL))
        return {r[0] for r in cur}

    def first_unscored(self, task: str, model: str, schedule_seed: int, trials: int) -> int | None:
        done = self.scored(task, model, schedule_seed)
        return next((k for k in range(trials) if k not in done), None)

    def progress(self) -> list[Progress]:
        """Per task x model x schedule seed: planned trials (the largest session) and outcome counts."""
        planned: dict[tuple[str, str, int], int] = {}
        for task, models, seed, trials in self.conn.execute(
                "SELECT task, models, schedule_seed, trials FROM sessions WHERE invalid_reason IS NULL"):
            for m in json.loads(models):
                key = (task, m, seed)
                planned[key] = max(planned.get(key, 0), trials)
        counts: dict[tuple[str, str, int], dict[str, int]] = {key: {} for key in planned}
        for task, model, seed, outcome, n in self.conn.execute(
                f"SELECT task, model, schedule_seed, outcome, COUNT(*) FROM trials WHERE {_LIVE} GROUP BY 1, 2, 3, 4"):
            counts.setdefault((task, model, seed), {})[outcome] = n
        return [Progress(task=task, model=model, schedule_seed=seed, planned=planned.get((task, model, seed), 0),
                         **counts[(task, model, seed)]) for task, model, seed in sorted(counts)]

    def session_labels(self, session_id: str) -> dict[str, str]:
        row = self.conn.execute("SELECT labels FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return json.loads(row[0]) if row else {}

    def last_final(self, session_id: str) -> TrialRecord | None:
        """The most recent final score of `session_id` that still counts (what "redo the previous trial" redoes)."""
        rows = [r for r in self.rows() if r.session_id == session_id and not r.superseded and r.outcome in FINAL]
        return max(rows, key=lambda r: r.id, default=None)

    def supersede(self, trial_id: int, reason: str) -> None:
        """Mark one trial row (and every preference that compared it) as no longer counting; the row is kept."""
        with self._tx() as c:
            c.execute(f"UPDATE trials SET superseded = ? WHERE id = ? AND {_LIVE}", (safe_text(reason), trial_id))
            c.execute(f"UPDATE pairs SET superseded = ? WHERE (trial_a = ? OR trial_b = ?) AND {_LIVE}",
                      (safe_text(reason), trial_id, trial_id))

    def invalidate_session(self, session_id: str, reason: str) -> int:
        """Declare a whole session invalid: it is kept with `reason`, its trials and preferences stop counting (its
        trials are run again by the next session). Returns how many trial rows that superseded."""
        why = safe_text(f"session invalid: {reason}" if reason else "session invalid")
        with self._tx() as c:
            c.execute("UPDATE sessions SET invalid_reason = ? WHERE session_id = ?", (safe_text(reason), session_id))
            n = c.execute(f"UPDATE trials SET superseded = ? WHERE session_id = ? AND {_LIVE}",
                          (why, session_id)).rowcount
            c.execute(f"UPDATE pairs SET superseded = ? WHERE session_id = ? AND {_LIVE}", (why, session_id))
        return n

    def invalid_sessions(self) -> dict[str, str]:
        """session id -> the reason it was declared invalid."""
        return dict(self.conn.execute("SELECT session_id, invalid_reason FROM sessions "
                                      "WHERE invalid_reason IS NOT NULL"))

    # ---------------------------------------------------------------- preferences
    def record_pair(self, pair: PairRecord) -> PairRecord:
        """Commit one preference at once; raises `DuplicateScoreError` if these two trials already have one."""
        pair.recorded_at = pair.recorded_at or now_iso()
        values = [_stored(getattr(pair, c)) for c in _PAIR_COLUMNS]
        try:
            with self._tx() as c:
                cur = c.execute(f"INSERT INTO pairs ({', '.join(_PAIR_COLUMNS)}) "
                                f"VALUES ({', '.join('?' * len(_PAIR_COLUMNS))})", values)
        except sqlite3.IntegrityError as e:
            raise DuplicateScoreError(f"trials {pair.trial_a} and {pair.trial_b} already have a preference") from e
        pair.id = int(cur.lastrowid)
        return pair

    def unpaired(self, task: str, schedule_seed: int, models: list[str],
                 trial_index: int | None = None) -> list[tuple[TrialRecord, TrialRecord]]:
        """Pairs of runs of the same scene by two of `models` (both scored success or failure, both still
        counting) that have no preference yet, first policy by blind label; optionally of one trial index."""
        compared = {frozenset((p.trial_a, p.trial_b)) for p in self.pairs(live_only=True)}
        by_scene: dict[int, list[TrialRecord]] = {}
        for r in self.rows(task=task):
            if (r.schedule_seed == schedule_seed and r.model in models and not r.superseded
                    and r.outcome in (Outcome.SUCCESS, Outcome.FAILURE)
                    and trial_index in (None, r.trial_index)):
                by_scene.setdefault(r.trial_index, []).append(r)
        out = []
        for k in sorted(by_scene):
            runs = sorted(by_scene[k], key=lambda r: (r.blind_label, r.model))
            out += [(a, b) for i, a in enumerate(runs) for b in runs[i + 1:]
                    if frozenset((a.id, b.id)) not in compared]
        return out

    def pairs(self, live_only: bool = False) -> list[PairRecord]:
        sql = f"SELECT {', '.join(_PAIR_COLUMNS)}, id FROM pairs" + (f" WHERE {_LIVE}" if live_only else "")
        return [PairRecord(**dict(zip([*_PAIR_COLUMNS, "id"], row, strict=True)))
                for row in self.conn.execute(sql + " ORDER BY id")]

    # ---------------------------------------------------------------- export
    def export_rows(self) -> list[TrialRow]:
        for _, fp in self.conn.execute("SELECT env, fingerprint FROM environments"):
            remember(json.loads(fp))  # so `write_rows` puts each row's fingerprint in environments.json
        names = [f.name for f in fields(TrialRow)]
        return [TrialRow(**{n: getattr(r, n) for n in names if hasattr(r, n)}) for r in self.rows()]

    def export_csv(self, path: str | Path | None = None) -> Path:
        """Write every recorded trial (all attempts, superseded ones marked; reports keep final outcomes that
        still count) as `TrialRow` CSV, atomically."""
        return write_rows(path if path is not None else default_csv(), self.export_rows(), TrialRow)

    def export_pair_rows(self) -> list[PairRow]:
        """The preferences that count (the CSV has no validity column: superseded ones are left out)."""
        return [PairRow(session=p.session_id, task=p.task, scene_index=p.scene_index, model_a=p.model_a,
                        model_b=p.model_b, trial_a=str(p.trial_a), trial_b=str(p.trial_b), preference=p.preference,
                        note=p.note) for p in self.pairs(live_only=True)]

    def export_pairs_csv(self, path: str | Path | None = None) -> Path:
        """Write the blind A/B preferences as `PairRow` CSV (the reports' Bradley-Terry ranking), atomically."""
        return write_rows(path if path is not None else default_pairs_csv(), self.export_pair_rows(), PairRow)

