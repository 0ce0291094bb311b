"""The console on its own: re-prompting, end of input, stop-early polling, the live line, the operator validator."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from harness.policy.base import Observation
from harness.robot.backend import SceneSetup
from harness.robot.console import OperatorConsole, OperatorQuit, OperatorValidator


def console(text: str, **kw):
    out = io.StringIO()
    return OperatorConsole(io.StringIO(text), out, **kw), out


def test_bad_answers_reprompt_and_words_work():
    c, out = console("\nyes\nX\nFailure\n  dropped it \n")
    assert c.ask_score()[:2] == ("failure", "dropped it")
    assert out.getvalue().count("score:") == 4
    assert "'yes' is not an answer here" in out.getvalue() and "'' is not an answer here" in out.getvalue()


def test_end_of_input_at_the_note_keeps_the_score_then_quits():
    c, _ = console("s\n")
    assert c.ask_score()[:2] == ("success", "")  # the note is optional: the score stands
    assert c.closed
    with pytest.raises(OperatorQuit):
        c.ask_score()
    c, _ = console("")
    with pytest.raises(OperatorQuit):
        c.ask_score()  # no score typed: nothing is returned, so nothing is recorded


@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])  # a strict locale; the C.UTF-8 locale
def test_bytes_that_are_not_utf8_reprompt_or_are_kept_in_the_note(errors):
    data = b"\xff\n" + b"s\xfe\n" + b"y" * 50_000 + b"\nF\n\xc3 dropped \xff\n"
    out = io.StringIO()
    c = OperatorConsole(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors), out)
    assert c.ask_score()[:2] == ("failure", "\ufffd dropped \ufffd")
    assert out.getvalue().count("score:") == 4
    assert "'\ufffd' is not an answer" in out.getvalue() and "'s\ufffd' is not an answer" in out.getvalue()
    assert f"'{'y' * 40}...' is not an answer" in out.getvalue()  # a long line is not echoed whole


def test_surrogates_from_a_c_locale_never_reach_the_log_and_long_notes_are_cut():
    c, out = console("\udcffs\nk\nnote \udcff\n")
    assert c.ask_score()[:2] == ("skip", "note \ufffd")
    c, out = console("s\n" + "n" * 5000 + "\n")
    assert c.ask_score()[:2] == ("success", "n" * 2000) and "note cut to its first 2000" in out.getvalue()


def test_ctrl_c_at_the_note_keeps_the_score_and_asks_for_a_pause():
    class Interrupting(io.StringIO):
        def readline(self, *a):
            line = super().readline(*a)
            if line == "":
                raise KeyboardInterrupt
            return line

    out = io.StringIO()
    c = OperatorConsole(Interrupting("f\n"), out)
    assert c.ask_score()[:2] == ("failure", "") and c.pause_requested


def test_operator_validator():
    c, out = console("maybe\nr\np\n")
    v = OperatorValidator(c)
    obs = Observation(np.zeros((4, 4, 3), np.uint8))
    first = v.decide(obs, obs, "grasp the carrot", "lift it")
    assert (first.action, first.source) == ("retry", "operator")
    assert v.decide(obs, obs, "lift it", None).action == "proceed"
    assert "(next: lift it)" in out.getvalue() and "(the last one)" in out.getvalue()


def test_stop_early_polls_typed_lines():
    r, w = os.pipe()
    with os.fdopen(r) as rf, os.fdopen(w, "w") as wf:
        out = io.StringIO()
        c = OperatorConsole(rf, out, poll_stop=True)
        c.start_trial()
        assert c.stop_requested() is False  # nothing typed
        wf.write("s\n")
        wf.flush()
        assert c.stop_requested() is False and "ignored 's'" in out.getvalue()
        wf.write("x\n")
        wf.flush()
        assert c.stop_requested() is True and c.stop_requested() is True
        c.start_trial()
        assert c.stop_requested() is False
    piped, _ = console("x\n")  # not a terminal: never polled, so typed-ahead scores are not eaten
    assert piped.poll_stop is False and piped.stop_requested() is False


def test_trial_header_and_live_line():
    c, out = console("")
    scene = SceneSetup("pickup", 2, "recoge la zanahoria", "es", "carrot", positions={"carrot": (0.31, -0.05)},
                       distractors=["spoon"])
    c.trial_header(2, 30, "policy B", {"policy A": (3, 30), "policy B": (2, 30)}, scene, "lifted > 5 cm")
    c.cycle_line({"cycle": 1, "subtask": "reach", "plan": "move down", "action_text": "move down 9.0 cm",
                  "steps": [{"verdict": "ok", "executed": True}, {"verdict": "clipped", "executed": True},
                            {"verdict": "ok", "executed": False, "reason": "ik_failure"}],
                  "decision": {"action": "retry", "reason": "not there yet"}})
    text = out.getvalue()
    assert "-- trial 3 of 30 -- policy B -- policy A: 3/30 scored | policy B: 2/30 scored" in text
    assert "carrot at x=31 cm, y=-5 cm" in text and "instruction (es): recoge la zanahoria" in text
    assert "2 step(s) moved (1 clipped, 1 IK failure(s)) | retry (not there yet)" in text


def test_a_terminal_that_cannot_be_polled_is_logged_once(caplog):
    r, w = os.pipe()
    os.close(w)
    rf = os.fdopen(r)
    c = OperatorConsole(rf, io.StringIO(), poll_stop=True)
    rf.close()  # the operator's terminal went away: select() raises on the closed file
    with caplog.at_level("WARNING", logger="harness.robot.console"):
        assert c.stop_requested() is False and c.stop_requested() is False
    (record,) = caplog.records  # said once, not on every step
    assert "cannot poll the terminal for a stop (ValueError" in record.getMessage()
    assert c.poll_stop is False


def test_progress_after_a_failure_one_key_per_level():
    from harness.specs import load_task

    rubric = load_task("pickup").progress  # reached 25 (r), grasped 50 (g), lifted 100 (l)
    c, out = console("f\nx\nlifted\n\udcff\nG\nslipped\n")
    assert c.ask_score(rubric) == ("failure", "slipped", 50)
    text = out.getvalue()
    assert "progress reached: [r] reached 25 [g] grasped 50 [0] none > " in text
    assert text.count("progress reached:") == 4  # 'x', the top level (a failure never reached it), a bad byte
    assert "'lifted' is not an answer here" in text
    c, out = console("s\nfine\n")
    assert c.ask_score(rubric) == ("success", "fine", 100) and "progress" not in out.getvalue()  # 100, unasked
    c, _ = console("f\nnone\n\n")
    assert c.ask_score(rubric) == ("failure", "", 0)
    c, _ = console("k\n\n")
    assert c.ask_score(rubric) == ("skip", "", None)
    c, _ = console("f\n")  # input ends at the progress prompt: the failure stands, without progress or note
    assert c.ask_score(rubric) == ("failure", "", None) and c.closed
    assert console("f\nno rubric\n")[0].ask_score() == ("failure", "no rubric", None)  # without a rubric: not asked


def test_redo_and_void_at_the_score_prompt():
    c, out = console("r\n")
    assert c.ask_score(commands=True) == ("redo", "", None)
    assert "[r]edo the previous trial, [v]oid the session" in out.getvalue()
    c, _ = console("void\ncamera moved \udcff\n")
    assert c.ask_score(commands=True) == ("void", "camera moved \ufffd", None)
    c, _ = console("v\n")  # no reason before the input ended: still void
    assert c.ask_score(commands=True) == ("void", "", None)
    c, out = console("r\nv\ns\n\n")  # commands only where the session offers them
    assert c.ask_score() == ("success", "", None) and out.getvalue().count("score:") == 3


def test_preference_a_b_tie_and_an_optional_note():
    c, out = console("c\n\n b \nfaster, no regrasp\n")
    assert c.ask_preference("policy A", "policy B") == ("B", "faster, no regrasp")
    assert "which did better on this scene? [a] policy A [b] policy B [t] tie > " in out.getvalue()
    assert "'c' is not an answer" in out.getvalue() and "'' is not an answer" in out.getvalue()
    c, _ = console("tie\n")
    assert c.ask_preference("policy A", "policy B") == ("tie", "")
    c, _ = console("x\n")
    assert c.ask_preference("policy A", "policy B") is None and c.closed  # nothing is recorded
