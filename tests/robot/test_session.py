"""Sessions end to end: the console driven through a pseudo-terminal, Ctrl-C, kill -9 and resume, auto scoring."""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli.robot import UNFINISHED
from harness.paths import REPO_ROOT
from harness.policy.validators import NoneValidator
from harness.robot.console import OperatorConsole
from harness.robot.session import Session, SessionConfig
from harness.robot.triallog import TrialLog
from harness.specs import load_robot, load_task
from tests.robot.fakes import RecordingBackend, SuccessBackend, TextPolicy
from tests.robot.pty_driver import PtyProcess

PROMPT = r"(score: \[s\]uccess.*?> |note \(Enter for none\) > |\[p\]roceed / \[r\]etry > |quit the session\? .*?> " \
         r"|progress reached: .*?> |which did better on this scene\? .*?> |why \(Enter for none\) > " \
         r"|== session \S+ (complete|operator_quit))"


@pytest.fixture
def env(tmp_path, experiments_copy):
    """Private results dir and experiments copy with a second scripted model (for blind A/B)."""
    (experiments_copy / "models" / "scripted-b.yaml").write_text(
        "type: scripted\nbase: scripted\naction_repr: verbalized\nscript: scripts/b.yaml\n")
    (experiments_copy / "scripts").mkdir()
    (experiments_copy / "scripts" / "b.yaml").write_text(
        "subtasks:\n  - subtask: grab it\n    cycles:\n      - {plan: move down, action: 'move down 3.0 cm, close gripper'}\n")
    return {"VLM2VLA_RESULTS": str(tmp_path / "results"), "VLM2VLA_EXPERIMENTS": str(experiments_copy),
            "PYTHONUNBUFFERED": "1"}


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT model, trial_index, outcome, note, attempt, blind_label, validator, retries "
                         "FROM trials ORDER BY id").fetchall()


def test_console_over_a_pty_with_bad_keystrokes(env, tmp_path):
    db = tmp_path / "trials.sqlite"
    p = PtyProcess(["robot-trials", "--task", "pickup", "--model", "scripted,scripted-b", "--robot", "dry-run",
                    "--trials", "2", "--db", str(db), "--validator", "operator", "--session-seed", "5"], env)
    scores = iter(["maybe", "s", "i", "f", "k", "s"])  # 'maybe' is refused; i = redo later
    notes = iter(["good grasp", "", "", "slipped", "", ""])
    validator = iter(["z", "r", "p"])  # 'z' is refused, then retry once; everything else proceeds
    seen_refusal = {"score": False, "validator": False}
    try:
        while True:
            text = p.expect(PROMPT, timeout=90)
            if "== session" in text:
                break
            if "score:" in text:
                if seen_refusal["score"] is False and "not an answer" not in text and "trial 1 of 2" in text:
                    assert "scene: Place: carrot at x=" in text and "instruction (en): pick up the carrot" in text
                    assert "policy A: 0/2 scored | policy B: 0/2 scored" in text
                answer = next(scores)
                seen_refusal["score"] |= answer == "maybe"
                p.sendline(answer)
            elif "progress reached" in text:
                p.sendline("g")  # grasped
            elif "which did better" in text:
                p.sendline("t")
            elif "why (Enter" in text:
                p.sendline("both lifted it")
            elif "note" in text:
                p.sendline(next(notes))
            elif "[p]roceed" in text:
                p.sendline(next(validator, "p"))
            else:
                raise AssertionError(f"unexpected prompt: {text[-200:]}")
        tail = p.expect(r"trial log: .*\n", timeout=30)
        assert p.wait() == 0
    finally:
        p.close()
    out = p.output
    assert "'maybe' is not an answer here" in out and "'z' is not an answer here" in out
    assert "MALFORMED" in out and "cycle 2 | sub-task: reach the object" in out
    assert "blind labels: policy A = scripted" in out or "blind labels: policy A = scripted-b" in out
    assert "scripted" not in out.split("blind labels")[0].replace("scripted,scripted-b", "")  # names hidden until the end
    assert "session" in tail or "trial log" in tail
    got = rows(db)
    assert len(got) == 5  # 4 trials + 1 redo
    finals = {(m, k): (o, n) for m, k, o, n, a, *_ in got if o != "invalid"}
    assert len(finals) == 4 and ("good grasp" in {n for o, n in finals.values()})
    (redo,) = [r for r in got if r[2] == "invalid"]
    again = [r for r in got if (r[0], r[1]) == (redo[0], redo[1]) and r[2] != "invalid"]
    assert again and again[0][4] == 2  # the redo is attempt 2, run after the other trials
    assert got.index(again[0]) == len(got) - 1
    assert all(r[6] == "operator" for r in got) and sum(r[7] for r in got) == 1  # one operator retry
    with sqlite3.connect(db) as c:  # the failure reached "grasped"; trial 1 (both succeeded) has its preference
        assert c.execute("SELECT outcome, progress FROM trials WHERE outcome = 'failure'").fetchall() == [("failure", 50)]
        assert c.execute("SELECT scene_index, preference, note FROM pairs").fetchall() == [(0, "tie", "both lifted it")]


def test_ctrl_c_pauses_to_sleep_pose_and_quits(env, tmp_path):
    db = tmp_path / "trials.sqlite"
    p = PtyProcess(["robot-trials", "--task", "pickup", "--model", "scripted", "--robot", "dry-run", "--trials", "3",
                    "--db", str(db), "-v"], env)
    try:
        p.expect(r"score: .*?> ")
        p.ctrl_c()
        seen = p.expect(r"quit the session\? .*?> ")
        assert "dry run: sleep pose" in seen  # the arm went to sleep before the question
        p.sendline("n")
        p.expect(r"score: .*?> ")  # back to scoring the same trial
        p.sendline("s")
        p.expect("note")
        p.sendline("")
        p.expect(r"recorded: trial 1")
        p.expect(r"score: .*?> ")
        p.ctrl_c()
        p.expect(r"quit the session\? .*?> ")
        p.sendline("y")
        p.expect(r"== session \S+ operator_quit: 1 score\(s\) recorded, 2 trial\(s\) still to run")
        assert p.wait() == UNFINISHED
    finally:
        p.close()
    assert p.output.count("dry run: sleep pose") >= 3  # two pauses + leaving the session
    assert [r[1:3] for r in rows(db)] == [(0, "success")]


def _start(args, env, answers: str):
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                            env={**os.environ, **env}, text=True)
    proc.stdin.write(answers)
    proc.stdin.flush()
    return proc


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _wait_rows(db: Path, n: int, proc, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _count(db) < n:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "session too slow"
        time.sleep(0.05)


@pytest.mark.parametrize("when", ["waiting-for-a-score", "while-writing"])
def test_kill_9_loses_nothing_and_resumes(env, tmp_path, when):
    db, n = tmp_path / "trials.sqlite", (8 if when == "waiting-for-a-score" else 20)  # 20: still busy when killed
    args = ["robot-trials", "--task", "pickup", "--model", "scripted", "--robot", "dry-run", "--trials", str(n),
            "--db", str(db)]
    if when == "waiting-for-a-score":
        proc = _start(args, env, "s\nfirst\nf\n0\n\nk\n\n")  # three scores, then it waits on trial 4
        _wait_rows(db, 3, proc)
        time.sleep(0.5)  # trial 4 runs and waits for its score
    else:
        proc = _start(args, env, "s\n\n" * n)
        _wait_rows(db, 2, proc)  # killed while trials are being run and scored back to back
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        got = c.execute("SELECT trial_index, outcome, note FROM trials ORDER BY id").fetchall()
    done = len(got)
    assert 2 <= done < n and [k for k, *_ in got] == list(range(done))  # killed mid-run; no gap, no duplicate
    if when == "waiting-for-a-score":
        assert got == [(0, "success", "first"), (1, "failure", ""), (2, "skip", "")]
    rerun = subprocess.run([sys.executable, "-m", "harness.cli.main", *args], input="s\n\n" * n, text=True,
                           capture_output=True, cwd=REPO_ROOT, env={**os.environ, **env}, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming: {done} trial(s) already scored" in rerun.stdout
    first = rerun.stdout.index("-- trial ")
    assert rerun.stdout[first:].startswith(f"-- trial {done + 1} of {n}")  # starts at the first unscored trial
    with sqlite3.connect(db) as c:
        final = c.execute("SELECT trial_index, COUNT(*) FROM trials GROUP BY trial_index").fetchall()
    assert final == [(k, 1) for k in range(n)]


def _session(backend, texts, stdin: str, operator="human", trials=2, tmp=None, models=("m",)):
    task, robot = load_task("pickup"), load_robot("dry-run")
    cfg = SessionConfig(task, robot, list(models), operator, trials, 0, None, "none", tmp / "out")
    out = io.StringIO()
    console = OperatorConsole(io.StringIO(stdin), out, poll_stop=False)
    log = TrialLog(tmp / "t.sqlite")
    policies = {m: TextPolicy(texts) for m in models}
    return Session(cfg, backend, policies.__getitem__, NoneValidator(), log, console), log, out


def test_ctrl_c_mid_trial_sleeps_and_reruns_the_trial(tmp_path):
    class InterruptOnce(RecordingBackend):
        fired = False

        def move(self, command):
            if not self.fired:
                self.fired = True
                raise KeyboardInterrupt
            return super().move(command)

    backend = InterruptOnce()
    session, log, out = _session(backend, ["move down 1.0 cm"], "n\ns\n\nf\n0\n\n", tmp=tmp_path)
    summary = session.run()
    assert summary.end_reason == "complete"
    assert backend.events.count("sleep") == 2  # the pause, then leaving the session
    assert backend.events[:3] == ["connect", "reset", "sleep"] and backend.events[-2:] == ["sleep", "disconnect"]
    assert [(r.trial_index, r.outcome) for r in log.rows()] == [(0, "success"), (1, "failure")]
    assert "paused" in out.getvalue()


def test_sleep_pose_on_error_and_normal_exit(tmp_path):
    class Crash(RecordingBackend):
        def move(self, command):
            raise RuntimeError("servo overload")

    backend = Crash()
    session, log, _ = _session(backend, ["move down 1.0 cm"], "", tmp=tmp_path)
    with pytest.raises(RuntimeError, match="servo overload"):
        session.run()
    assert backend.events[-2:] == ["sleep", "disconnect"] and log.rows() == []
    end = log.conn.execute("SELECT end_reason FROM sessions").fetchone()[0]
    assert end.startswith("error: RuntimeError")
    ok = RecordingBackend()
    session, *_ = _session(ok, ["stay"], "s\n\ns\n\n", tmp=tmp_path / "b")
    session.run()
    assert ok.events[-2:] == ["sleep", "disconnect"]


def test_closed_input_quits_safely(tmp_path):
    backend = RecordingBackend()
    session, log, out = _session(backend, ["stay"], "s\n\n", trials=3, tmp=tmp_path)  # input ends after one score
    summary = session.run()
    assert summary.end_reason == "operator_quit" and len(log.rows()) == 1 and summary.remaining == 2
    assert backend.events[-2:] == ["sleep", "disconnect"]


@pytest.mark.parametrize("answers, trials, code, recorded", [
    (b"s\n\xff\n", 1, 0, [(0, "success", "\ufffd")]),  # the reproduction: a byte that is not UTF-8
    (b"s\n", 1, 0, [(0, "success", "")]),  # end of input at the note: the score stands
    (b"\xff\nf\n0\nok\n", 3, UNFINISHED, [(0, "failure", "ok")]),  # input ends with trials still to run
])
@pytest.mark.parametrize("encoding", ["", "utf-8:strict"])  # the C.UTF-8 locale's surrogates; a strict decoder
def test_piped_bytes_and_end_of_input_exit_status(env, tmp_path, answers, trials, code, recorded, encoding):
    db = tmp_path / "trials.sqlite"
    args = ["robot-trials", "--task", "pickup", "--model", "scripted", "--robot", "dry-run", "--operator", "human",
            "--trials", str(trials), "--db", str(db), "--out", str(tmp_path / "out")]
    run_env = {**os.environ, **env, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": encoding}
    r = subprocess.run([sys.executable, "-m", "harness.cli.main", *args], input=answers, capture_output=True,
                       cwd=REPO_ROOT, env=run_env, timeout=120)
    assert r.returncode == code, r.stderr.decode()
    assert b"Traceback" not in r.stderr and b"error:" not in r.stderr
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT trial_index, outcome, note FROM trials").fetchall() == recorded


def test_ctrl_c_at_the_note_records_the_score_then_pauses(tmp_path):
    class InterruptAtNote(io.StringIO):
        def readline(self, *a):
            line = super().readline(*a)
            if line == "NOTE\n":
                raise KeyboardInterrupt
            return line

    backend = RecordingBackend()
    session, log, out = _session(backend, ["stay"], "", trials=2, tmp=tmp_path)
    session.console = OperatorConsole(InterruptAtNote("s\nNOTE\ny\n"), out, poll_stop=False)
    summary = session.run()
    assert [(r.trial_index, r.outcome, r.note) for r in log.rows()] == [(0, "success", "")]
    assert summary.end_reason == "operator_quit" and summary.remaining == 1
    assert backend.events.count("sleep") == 2  # the pause after the score, then leaving the session


def test_end_of_input_at_the_validator_question_quits_without_a_score(tmp_path):
    from harness.robot.console import OperatorValidator

    backend = RecordingBackend()
    session, log, out = _session(backend, ["move down 1.0 cm", "move up 1.0 cm"], "p\n", trials=2, tmp=tmp_path)
    session.validator = OperatorValidator(session.console)
    summary = session.run()
    assert summary.end_reason == "operator_quit" and summary.remaining == 2 and log.rows() == []
    assert backend.events[-2:] == ["sleep", "disconnect"]


def test_auto_operator_uses_the_backend_detector(tmp_path):
    backend = SuccessBackend(success_value=True)
    session, log, out = _session(backend, ["close gripper"], "", operator="auto", trials=3, tmp=tmp_path,
                                 models=("a", "b"))
    session.run()
    recs = log.rows()
    assert len(recs) == 6 and {r.outcome for r in recs} == {"success"} and {r.operator for r in recs} == {"auto"}
    assert {r.blind_label for r in recs} == {"policy A", "policy B"}
    with pytest.raises(ValueError, match="needs a backend with its own success detector"):
        _session(RecordingBackend(), ["stay"], "", operator="auto", tmp=tmp_path / "c")


def _ab_session(tmp_path, stdin: str, trials: int = 2, reference=None):
    session, log, out = _session(RecordingBackend(), ["stay"], stdin, trials=trials, tmp=tmp_path, models=("a", "b"))
    session.reference = reference
    return session, log, out


def test_blind_ab_preferences_redo_and_void(tmp_path):
    import numpy as np

    rendered = []

    def reference(scene):
        rendered.append(scene.trial_index)
        return np.full((4, 6, 3), 10 * scene.trial_index, np.uint8)

    answers = ("s\n\n"  # trial 1, first policy
               "f\ng\nmissed\n"  # trial 1, second policy: a failure that grasped
               "a\nA held on\n"  # preference for trial 1
               "r\n"  # trial 2, first policy: redo the previous trial (trial 1, second policy) ...
               "s\n\n"  # ... after scoring this one
               "s\n\n"  # the redo of trial 1, second policy
               "t\n\n"  # trial 1 compared again: the first preference compared the superseded run
               "v\nthe carrot was the wrong size\n")  # trial 2, second policy: void the whole session
    session, log, out = _ab_session(tmp_path, answers, reference=reference)
    summary = session.run()
    text = out.getvalue()
    assert summary.end_reason == "invalid" and summary.redone == 1 and summary.preferences == 2
    assert summary.remaining == 4  # nothing of a void session counts
    got = [(r.trial_index, r.outcome, r.progress, r.superseded) for r in log.rows()]
    assert sorted(got) == sorted([(0, "success", 100, "session invalid: the carrot was the wrong size"),
                                  (0, "failure", 50, "redone: the operator superseded attempt 1"),
                                  (0, "success", 100, "session invalid: the carrot was the wrong size"),
                                  (1, "success", 100, "session invalid: the carrot was the wrong size")])
    pairs = log.pairs()
    assert [(p.scene_index, p.preference, p.note) for p in pairs] == [(0, "A", "A held on"), (0, "tie", "")]
    assert pairs[0].superseded.startswith("redone") and pairs[1].superseded.startswith("session invalid")
    assert log.invalid_sessions() == {session.session_id: "the carrot was the wrong size"}
    assert "it runs again once this trial is scored" in text and "(redo: set the scene up as described)" in text
    assert text.index("(redo: set the scene up") < text.rindex("-- trial 2 of 2")  # the redo ran next
    # the scene card names each scene's reference image (rendered once per scene; the path does not name the
    # model), and each trial directory keeps a copy
    cards = re.findall(r"reference image of this scene: (\S+)", text)
    assert len(cards) == 5 and rendered == [0, 1]
    assert [Path(p).name[6:9] for p in cards] == ["000", "000", "001", "000", "001"]  # the redo ran 4th
    assert not any(m in Path(p).parts for p in cards for m in ("a", "b"))
    copies = sorted((tmp_path / "out" / session.session_id).glob("*/trial-*/reference.png"))
    assert len(copies) == 5 and all(c.read_bytes() == copies[0].read_bytes() for c in copies
                                    if c.parent.name.startswith("trial-000"))


def test_a_preference_left_unanswered_is_asked_when_the_session_resumes(tmp_path):
    session, log, _ = _ab_session(tmp_path, "s\n\nf\n0\n\n", trials=1)  # input ends at the preference prompt
    assert session.run().end_reason == "complete" and log.pairs() == []
    again, _, out = _ab_session(tmp_path, "b\nsecond one was closer\n", trials=1)
    again.log = log
    summary = again.run()
    assert summary.preferences == 1 and "scored earlier, no preference yet" in out.getvalue()
    (p,) = log.pairs()
    winner = "b" if p.model_b == "b" else "a"
    assert p.preference == "B" and log.rows(model=winner)[0].blind_label == "policy B"


def test_auto_scoring_records_the_detectors_progress(tmp_path):
    class Progressing(SuccessBackend):
        def progress(self):
            return 50

    session, log, out = _session(Progressing(success_value=False), ["stay"], "", operator="auto", trials=1,
                                 tmp=tmp_path)
    session.run()
    assert [(r.outcome, r.progress) for r in log.rows()] == [("failure", 50)]
    assert "auto score: failure, progress 50" in out.getvalue()
