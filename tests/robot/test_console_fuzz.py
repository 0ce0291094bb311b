"""The console under random input: ~1000 seeded lines (answers, words, bytes that are not UTF-8, very long lines,
empty lines) cut into pieces, each piece one session that ends where its input ends - at a score prompt or at a
note prompt. The dry-run robot and the scripted policy run the trials (small camera frames, to stay fast).

Expected rows come from a reading of the bytes that knows only the documented rules: a score line is one of
s/f/i/k or its word (any case, surrounding blanks ignored); the line after an accepted score is its note; input
that ends at the note prompt leaves the note empty and the score stands.
"""

from __future__ import annotations

import dataclasses
import io
import random
import re

import pytest

from harness.policy.factory import make_policy
from harness.policy.validators import NoneValidator
from harness.robot.backends import make_backend
from harness.robot.console import SCORES, OperatorConsole
from harness.robot.session import Session, SessionConfig
from harness.robot.triallog import TrialLog
from harness.specs import load_model, load_robot, load_task

TRIALS = 400  # more than the input can score: every session ends with trials still to run
WORDS = {w: w for w in SCORES.values()} | SCORES


def random_line(rng: random.Random) -> bytes:
    kind = rng.random()
    if kind < 0.22:
        word = rng.choice(["s", "f", "i", "k", "success", "failure", "invalid", "skip"])
        word = word.upper() if rng.random() < 0.2 else word
        return (" " * rng.randint(0, 2) + word + "\t" * rng.randint(0, 1)).encode()
    if kind < 0.45:  # bytes that are not UTF-8, alone or around an answer
        junk = bytes(rng.choice([0xFF, 0xFE, 0xC3, 0x80, 0xED, 0xF8]) for _ in range(rng.randint(1, 4)))
        return rng.choice([junk, b"s" + junk, junk + b"f", b"note " + junk + b" done"])
    if kind < 0.52:  # very long lines
        return rng.choice([b"s", b"x", "é".encode(), b"\xff"]) * rng.randint(5_000, 200_000)
    if kind < 0.62:
        return b""
    if kind < 0.75:  # near misses and other scripts
        return rng.choice(["yes", "sk", "ss", "x", "ｓ", "𝟒", "ß", "succes", "q", "n", "\x1b[A", "s f"]).encode()
    return bytes(rng.choice([b for b in range(1, 256) if b not in b"\r\n"]) for _ in range(rng.randint(1, 30)))


def expected_scores(lines: list[bytes]) -> list[tuple[str, str]]:
    """(outcome, note) the documented rules accept from one session's input."""
    out: list[tuple[str, str]] = []
    pending: str | None = None
    for raw in lines:
        text = raw.decode("utf-8", "replace").strip()
        if pending is not None:
            out.append((pending, text[:2000]))
            pending = None
        elif text.lower() in WORDS:
            pending = WORDS[text.lower()]
    if pending is not None:
        out.append((pending, ""))  # input ended at the note prompt
    return out


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])  # a strict locale; C.UTF-8 (surrogates)
def test_random_input_never_loses_or_duplicates_a_score(tmp_path, errors):
    rng = random.Random(16)
    lines = [random_line(rng) for _ in range(1000)]
    pieces, i = [], 0
    while i < len(lines):
        n = rng.randint(0, 60)
        pieces.append(lines[i:i + n])
        i += n
    task, robot = load_task("pickup"), load_robot("dry-run")
    robot = dataclasses.replace(robot, camera=dataclasses.replace(robot.camera, width=32, height=24))
    cfg = SessionConfig(task, robot, ["scripted"], "human", TRIALS, 0, None, "none", tmp_path / "out")
    policy = make_policy(load_model("scripted"))
    given: list[tuple[str, str]] = []
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
            assert summary.end_reason == "operator_quit" and summary.remaining > 0
            assert "Traceback" not in text
            first = re.search(r"-- trial (\d+) of", text)
            assert first is not None and int(first.group(1)) == first_unscored + 1  # resumes where it stopped
            given += expected_scores(piece)
            assert summary.scored == len(expected_scores(piece))
        rows = log.rows()
    assert len(given) > 150 and {o for o, _ in given} == set(SCORES.values())
    assert len(rows) == len(given)  # every accepted score is a row, nothing else is
    assert sorted((r.outcome, r.note) for r in rows) == sorted(given)  # each with its own note
    keys = [(r.model, r.trial_index, r.attempt) for r in rows]
    assert len(keys) == len(set(keys))
    finals = [r.trial_index for r in rows if r.outcome != "invalid"]
    assert len(finals) == len(set(finals))  # one final score per trial
    assert any(len(n) == 2000 for _, n in given) and any("\ufffd" in n for _, n in given)
