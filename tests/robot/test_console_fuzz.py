"""The console under random input: ~1600 seeded lines (answers, words, bytes that are not UTF-8, very long lines,
empty lines) cut into pieces, each piece one session that ends where its input ends - at a score prompt or at a
note prompt. The dry-run robot and the scripted policy run the trials (small camera frames, to stay fast).

Expected rows come from a reading of the bytes that knows only the documented rules: a score line is one of
s/f/i/k or its word (any case, surrounding blanks ignored); after a failure the next accepted line is the progress
(a key or level name of the task's rubric below its top, or 0 / none; a success is 100 unasked); the line after
that (or after any other score) is its note; input that ends at the progress or note prompt leaves them empty and
the score stands. At the score prompt r / redo supersedes the session's latest final score that still counts, and
v / void takes the next line as the reason and supersedes every score of the session, which ends.
"""

from __future__ import annotations

import dataclasses
import io
import random
import re

import pytest

from harness.policy.factory import make_policy
from harness.policy.validators import NoneValidator
from harness.records.outcomes import FINAL_OUTCOMES, Outcome
from harness.robot.backends import make_backend
from harness.robot.console import COMMANDS, SCORES, OperatorConsole
from harness.robot.session import Session, SessionConfig
from harness.robot.triallog import TrialLog
from harness.specs import load_model, load_robot, load_task

FULL = 100
TRIALS = 400  # more than the input can score: every session ends with trials still to run
WORDS = {w: w for w in SCORES.values()} | SCORES
COMMAND_WORDS = {w: w for w in COMMANDS.values()} | COMMANDS
RUBRIC = load_task("pickup").progress[:-1]  # what a failure can have reached
PROGRESS_WORDS = {"0": 0, "none": 0} | {lvl.key: lvl.value for lvl in RUBRIC} | {lvl.name: lvl.value for lvl in RUBRIC}


def random_line(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.004:
        return rng.choice([b"v", b"void"])  # rare: it ends the session
    if kind < 0.36:
        word = rng.choice(["s", "f", "i", "k", "success", "failure", "invalid", "skip", "r", "redo", "0", "g",
                           "none", "grasped", "reached", "l"])
        word = word.upper() if rng.random() < 0.2 else word
        return (" " * rng.randint(0, 2) + word + "\t" * rng.randint(0, 1)).encode()
    if kind < 0.53:  # bytes that are not UTF-8, alone or around an answer
        junk = bytes(rng.choice([0xFF, 0xFE, 0xC3, 0x80, 0xED, 0xF8]) for _ in range(rng.randint(1, 4)))
        return rng.choice([junk, b"s" + junk, junk + b"f", b"note " + junk + b" done"])
    if kind < 0.58:  # very long lines
        return rng.choice([b"s", b"x", "é".encode(), b"\xff"]) * rng.randint(5_000, 200_000)
    if kind < 0.66:
        return b""
    if kind < 0.79:  # near misses and other scripts
        return rng.choice(["yes", "sk", "ss", "x", "ｓ", "𝟒", "ß", "succes", "q", "n", "\x1b[A", "s f"]).encode()
    return bytes(rng.choice([b for b in range(1, 256) if b not in b"\r\n"]) for _ in range(rng.randint(1, 30)))


def expected_rows(lines: list[bytes]) -> tuple[list[list], bool]:
    """[outcome, note, progress, superseded] of each row the documented rules record from one session's input,
    and whether the session was voided."""
    rows: list[list] = []
    state, pending = "score", None
    for raw in lines:
        text = raw.decode("utf-8", "replace").strip()
        low = text.lower()
        if state == "score":
            if low in WORDS:
                outcome = WORDS[low]
                progress = FULL if outcome == Outcome.SUCCESS else None
                pending, state = [outcome, "", progress, False], ("progress" if outcome == Outcome.FAILURE else "note")
            elif COMMAND_WORDS.get(low) == "redo":
                live = [r for r in rows if r[0] in FINAL_OUTCOMES and not r[3]]
                if live:
                    live[-1][3] = True
            elif COMMAND_WORDS.get(low) == "void":
                state = "reason"
        elif state == "progress":
            if low in PROGRESS_WORDS:
                pending[2], state = PROGRESS_WORDS[low], "note"
        elif state == "note":
            pending[1] = text[:2000]
            rows.append(pending)
            state = "score"
        else:  # the reason: the session is void
            break
    if state in ("progress", "note"):
        rows.append(pending)  # input ended after the score: it stands, without what was not given
    voided = state == "reason"
    if voided:
        for r in rows:
            r[3] = True
    return rows, voided


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])  # a strict locale; C.UTF-8 (surrogates)
def test_random_input_never_loses_or_duplicates_a_score(tmp_path, errors):
    rng = random.Random(16)
    lines = [random_line(rng) for _ in range(1600)]
    pieces, i = [], 0
    while i < len(lines):
        n = rng.randint(0, 60)
        pieces.append(lines[i:i + n])
        i += n
    task, robot = load_task("pickup"), load_robot("dry-run")
    robot = dataclasses.replace(robot, camera=dataclasses.replace(robot.camera, width=32, height=24))
    cfg = SessionConfig(task, robot, ["scripted"], "human", TRIALS, 0, None, "none", tmp_path / "out")
    policy = make_policy(load_model("scripted"))
    given: list[tuple] = []
    voids = 0
    with TrialLog(tmp_path / "trials.sqlite") as log:
        for piece in pieces:
            first_unscored = log.first_unscored(task.name, "scripted", task.schedule_seed, TRIALS)
            data = b"".join(line + b"\n" for line in piece)
            if piece and rng.random() < 0.5:
                data = data[:-1]  # the last line has no newline
            out = io.StringIO()
            stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors)
            console = OperatorConsole(stdin, out, poll_stop=False)
            summary = Session(cfg, make_backend(robot), lambda _m: policy, NoneValidator(), log, console).run()
            text = out.getvalue()
            expected, voided = expected_rows(piece)
            voids += voided
            assert summary.end_reason == ("invalid" if voided else "operator_quit") and summary.remaining > 0
            assert "Traceback" not in text
            first = re.search(r"-- trial (\d+) of", text)
            assert first is not None and int(first.group(1)) == first_unscored + 1  # resumes where it stopped
            given += [tuple(r) for r in expected]
            assert summary.scored == len(expected)
        rows = log.rows()
    assert len(given) > 150 and {g[0] for g in given} == set(SCORES.values())
    assert len(rows) == len(given)  # every accepted score is a row, nothing else is
    got = sorted((r.outcome, r.note, -1 if r.progress is None else r.progress, bool(r.superseded)) for r in rows)
    assert got == sorted((o, n, -1 if p is None else p, s) for o, n, p, s in given)  # each with its own note
    keys = [(r.model, r.trial_index, r.attempt) for r in rows]
    assert len(keys) == len(set(keys))
    finals = [r.trial_index for r in rows if r.outcome != "invalid" and not r.superseded]
    assert len(finals) == len(set(finals))  # one final score per trial that counts
    assert any(len(g[1]) == 2000 for g in given) and any("\ufffd" in g[1] for g in given)
    assert voids and any(g[3] for g in given) and {0, 25, 50, 100} <= {g[2] for g in given}
