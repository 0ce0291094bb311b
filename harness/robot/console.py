"""The operator console: plain terminal I/O (works over ssh, a pty or a pipe), one prompt at a time.

Every answer is a line (a letter or the word, then Enter); anything else re-prompts - a bad keystroke never crashes
the session or records a wrong score. Bytes that are not UTF-8 are read as U+FFFD whatever the locale (a strict
decoder would raise, the C locale's surrogates cannot be stored): such a line is not an answer, and in a note it is
stored as it reads. While a trial runs on a terminal, `x` + Enter stops it early (the current step finishes). End of
input (Ctrl-D, a closed pipe) at a question raises `OperatorQuit`: the session stops safely, as if the operator had
chosen to quit. The note is optional: end of input there, or Ctrl-C, leaves it empty and the score stands.
"""

from __future__ import annotations

import logging
import select
import sys
from collections.abc import Mapping
from typing import TextIO

from harness.policy.base import Decision, Observation, Validator
from harness.records.outcomes import Outcome
from harness.robot.backend import SceneSetup
from harness.robot.triallog import safe_text

SCORES = {"s": Outcome.SUCCESS, "f": Outcome.FAILURE, "i": Outcome.INVALID, "k": Outcome.SKIP}
NOTE_MAX = 2000  # characters kept of a note (a pasted log is not a note)
ECHO_MAX = 40  # characters of a refused answer shown back

log = logging.getLogger(__name__)


class OperatorQuit(Exception):
    """The operator ended the session (or input closed)."""


class OperatorConsole:
    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None, poll_stop: bool | None = None):
        self.stdin = stdin if stdin is not None else sys.stdin
        self.stdout = stdout if stdout is not None else sys.stdout
        self.poll_stop = self._isatty() if poll_stop is None else poll_stop
        self._stop = False
        self.closed = False  # input ended: no question can be answered any more
        self.pause_requested = False  # Ctrl-C at the note prompt: pause once the score is recorded
        for stream in (self.stdin, self.stdout):
            _tolerate_bad_bytes(stream)

    def _isatty(self) -> bool:
        try:
            return self.stdin.isatty()
        except (AttributeError, ValueError):
            return False

    # ---------------------------------------------------------------- output
    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def session_header(self, task: str, robot: str, models: int, trials: int, operator: str, validator: str,
                       resumed: int) -> None:
        self.say(f"== {task} on {robot}: {trials} trials x {models} {'policies' if models > 1 else 'policy'}, "
                 f"operator {operator}, validator {validator}")
        if resumed:
            self.say(f"   resuming: {resumed} trial(s) already scored in the log are not run again")
        if operator == "human":
            self.say("   during a trial: type x + Enter to stop it early; Ctrl-C pauses (arm to sleep pose)")

    def trial_header(self, trial_index: int, trials: int, label: str, progress: Mapping[str, tuple[int, int]],
                     scene: SceneSetup, success_text: str, attempt_note: str = "") -> None:
        per_model = " | ".join(f"{lab}: {done}/{n} scored" for lab, (done, n) in sorted(progress.items()))
        self.say("")
        self.say(f"-- trial {trial_index + 1} of {trials} -- {label}{attempt_note} -- {per_model}")
        self.say(f"   scene: {scene.describe()}")
        if scene.distractors:
            self.say(f"   distractors: {', '.join(scene.distractors)}")
        self.say(f"   instruction ({scene.language}): {scene.instruction}")
        self.say(f"   success: {success_text}")

    def cycle_line(self, line: Mapping) -> None:
        """The live line of one cycle: sub-task, plan, action, envelope, validator decision."""
        parts = [f"   cycle {line.get('cycle')}", f"sub-task: {line.get('subtask', '')}",
                 f"plan: {line.get('plan', '')}", f"action: {line.get('action_text', '')}"]
        if line.get("parse_error"):
            reason = str(line["parse_error"]).split(": ", 1)[-1].split(";")[0]
            parts.append(f"MALFORMED ({reason[:70]}), nothing moved")
        else:
            verdicts = [s.get("verdict") for s in line.get("steps", [])]
            ik = sum(1 for s in line.get("steps", []) if s.get("reason") == "ik_failure")
            moved = sum(1 for s in line.get("steps", []) if s.get("executed"))
            extra = [f"{verdicts.count(v)} {v}" for v in ("clipped", "rejected") if v in verdicts]
            extra += [f"{ik} IK failure(s)"] if ik else []
            parts.append(f"{moved} step(s) moved" + (f" ({', '.join(extra)})" if extra else ""))
        if line.get("stopped"):
            parts.append("STOPPED by operator")
        elif line.get("parse_error"):
            parts.append("retry")
        elif decision := line.get("decision"):
            parts.append(f"{decision['action']}" + (f" ({decision['reason']})" if decision.get("reason") else ""))
        self.say(" | ".join(str(p) for p in parts))

    # ---------------------------------------------------------------- input
    def _readline(self) -> str:
        if self.closed:
            raise OperatorQuit("input closed")
        try:
            line = self.stdin.readline()
        except UnicodeDecodeError:  # a stream that could not be told to replace bad bytes: an unreadable line
            return "\ufffd"
        if line == "":
            self.closed = True
            raise OperatorQuit("input closed")
        return safe_text(line).strip()

    def ask(self, prompt: str, choices: Mapping[str, str]) -> str:
        """Ask until the answer is one of `choices` (key letter or its word); return the word."""
        words = {w.lower(): w for w in choices.values()}
        while True:
            self.stdout.write(prompt)
            self.stdout.flush()
            answer = self._readline().lower()
            if answer in choices:
                return choices[answer]
            if answer in words:
                return words[answer]
            options = ", ".join(f"{k} = {w}" for k, w in choices.items())
            shown = answer if len(answer) <= ECHO_MAX else answer[:ECHO_MAX] + "..."
            self.say(f"   '{shown}' is not an answer here; type one of: {options}")

    def ask_score(self) -> tuple[str, str]:
        """The outcome, then an optional note. Once the outcome is given it stands: end of input at the note
        prompt means no note; Ctrl-C there means no note and a pause after the score is recorded."""
        outcome = self.ask("score: [s]uccess [f]ailure [i]nvalid (redo later) s[k]ip > ", SCORES)
        self.stdout.write("note (Enter for none) > ")
        self.stdout.flush()
        try:
            note = self._readline()
        except OperatorQuit:
            note = ""
            self.say("")
        except KeyboardInterrupt:
            note, self.pause_requested = "", True
            self.say("")
        if len(note) > NOTE_MAX:
            note = note[:NOTE_MAX]
            self.say(f"   (note cut to its first {NOTE_MAX} characters)")
        return outcome, note

    def ask_quit(self) -> bool:
        """After Ctrl-C: quit the session (True) or go on (False)?"""
        return self.ask("paused: the arm is in its sleep pose. quit the session? [y]es / [n]o > ",
                        {"y": "yes", "n": "no"}) == "yes"

    def ask_subtask(self, subtask: str, next_subtask: str | None) -> tuple[str, str]:
        then = f" (next: {next_subtask})" if next_subtask else " (the last one)"
        answer = self.ask(f"   sub-task '{subtask}' done{then}? [p]roceed / [r]etry > ", {"p": "proceed", "r": "retry"})
        return answer, "operator judged the sub-task " + ("done" if answer == "proceed" else "not done")

    # ---------------------------------------------------------------- stop early
    def start_trial(self) -> None:
        self._stop = False

    def stop_requested(self) -> bool:
        """Non-blocking: has the operator typed `x` + Enter since the trial started? Polls a terminal only."""
        if self._stop or not self.poll_stop:
            return self._stop
        try:
            while select.select([self.stdin], [], [], 0)[0]:
                line = self.stdin.readline()
                if line == "":
                    break
                if line.strip().lower() in ("x", "stop"):
                    self._stop = True
                    self.say("   stopping after the current step ...")
                    break
                self.say(f"   (ignored {line.strip()!r} while the trial runs; type x + Enter to stop it)")
        except (OSError, ValueError) as e:
            # select retries EINTR itself, so this is lasting (input closed, no file descriptor): say so once and stop
            # polling, instead of silently losing the operator's stop on every step.
            self.poll_stop = False
            log.warning("operator console: cannot poll the terminal for a stop (%s: %s); typing x + Enter no longer "
                        "stops a trial early - Ctrl-C still stops the session", type(e).__name__, e)
        return self._stop


def _tolerate_bad_bytes(stream: TextIO) -> None:
    """Make a text stream replace bytes its encoding cannot handle instead of raising (a no-op for in-memory
    streams); a strict locale would otherwise end the session on a stray byte."""
    reconfigure = getattr(stream, "reconfigure", None)
    if callable(reconfigure):
        try:
            reconfigure(errors="replace")
        except (ValueError, OSError):
            pass


class OperatorValidator(Validator):
    """The operator answers retry or proceed after each executed chunk (the console asks)."""

    name = "operator"

    def __init__(self, console: OperatorConsole):
        self.console = console

    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        action, reason = self.console.ask_subtask(subtask, next_subtask)
        return Decision(action, reason, self.name)  # type: ignore[arg-type]
