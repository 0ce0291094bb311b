"""The operator console: plain terminal I/O (works over ssh, a pty or a pipe), one prompt at a time.

Every answer is a line (a letter or the word, then Enter); anything else re-prompts - a bad keystroke never crashes
the session or records a wrong score. Bytes that are not UTF-8 are read as U+FFFD whatever the locale (a strict
decoder would raise, the C locale's surrogates cannot be stored): such a line is not an answer, and in a note it is
stored as it reads. While a trial runs on a terminal, `x` + Enter stops it early (the current step finishes). End of
input (Ctrl-D, a closed pipe) at a question raises `OperatorQuit`: the session stops safely, as if the operator had
chosen to quit. The note is optional: end of input there, or Ctrl-C, leaves it empty and the score stands.

Issue 19 adds, each under the same rules: after a failure, the progress the trial made on the task's rubric (one
key per level, 0 for none; a success is the rubric's top level, 100, without a question); at the score prompt,
`r` redoes the previous trial (its score is kept but superseded) and `v` declares the whole session invalid (a
reason is asked); in blind A/B sessions, once two policies ran the same scene, which did better (A / B / tie) and
an optional note. Input that ends at the progress or preference prompt leaves that answer out (the score stands);
at the reason prompt it still voids the session, with no reason given.
"""

from __future__ import annotations

import logging
import select
import sys
from collections.abc import Mapping, Sequence
from typing import NamedTuple, TextIO

from harness.policy.base import Decision, Observation, Validator
from harness.records.outcomes import Outcome
from harness.robot.backend import SceneSetup
from harness.robot.triallog import safe_text
from harness.specs.task import FULL_PROGRESS, NO_PROGRESS_KEY, ProgressLevel

SCORES = {"s": Outcome.SUCCESS, "f": Outcome.FAILURE, "i": Outcome.INVALID, "k": Outcome.SKIP}
REDO, VOID = "redo", "void"  # session commands at the score prompt
COMMANDS = {"r": REDO, "v": VOID}
PREFERENCE_KEYS = {"a": "A", "b": "B", "t": "tie"}
NOTE_MAX = 2000  # characters kept of a note (a pasted log is not a note)
ECHO_MAX = 40  # characters of a refused answer shown back

log = logging.getLogger(__name__)


class OperatorQuit(Exception):
    """The operator ended the session (or input closed)."""


class Score(NamedTuple):
    """The operator's answer at the score prompt: an outcome with its note and progress, or a session command
    (`outcome` = REDO or VOID; `note` then holds VOID's reason)."""

    outcome: str
    note: str
    progress: int | None = None  # 0..100 on the task's rubric; None: none asked (no rubric, invalid, skip, EOF)


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
                     scene: SceneSetup, success_text: str, attempt_note: str = "", reference: str = "") -> None:
        per_model = " | ".join(f"{lab}: {done}/{n} scored" for lab, (done, n) in sorted(progress.items()))
        self.say("")
        self.say(f"-- trial {trial_index + 1} of {trials} -- {label}{attempt_note} -- {per_model}")
        self.say(f"   scene: {scene.describe()}")
        if scene.distractors:
            self.say(f"   distractors: {', '.join(scene.distractors)}")
        self.say(f"   instruction ({scene.language}): {scene.instruction}")
        self.say(f"   success: {success_text}")
        if reference:
            self.say(f"   reference image of this scene: {reference}")

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

    def ask_score(self, rubric: Sequence[ProgressLevel] = (), commands: bool = False) -> Score:
        """The outcome, the progress after a failure (with a rubric), then an optional note. Once the outcome is
        given it stands: end of input at a later prompt means no answer there; Ctrl-C there means no answer and a
        pause after the score is recorded. With `commands`, `r` / `v` return a REDO / VOID score instead."""
        prompt = "score: [s]uccess [f]ailure [i]nvalid (redo later) s[k]ip"
        choices: dict[str, str] = dict(SCORES)
        if commands:
            prompt += " | [r]edo the previous trial, [v]oid the session"
            choices |= COMMANDS
        outcome = self.ask(prompt + " > ", choices)
        if outcome == VOID:
            return Score(VOID, self.ask_reason())
        if outcome == REDO:
            return Score(REDO, "")
        progress = self._ask_progress(outcome, rubric)
        note = "" if self.pause_requested or self.closed else self.ask_note("note (Enter for none) > ")
        return Score(outcome, note, progress)

    def _ask_progress(self, outcome: str, rubric: Sequence[ProgressLevel]) -> int | None:
        """A success is the top of the rubric; after a failure, the highest level the trial reached."""
        if not rubric or outcome not in (Outcome.SUCCESS, Outcome.FAILURE):
            return None
        if outcome == Outcome.SUCCESS:
            return FULL_PROGRESS
        lower = list(rubric)[:-1]
        if not lower:
            return 0
        choices = {NO_PROGRESS_KEY: "none", **{lvl.key: lvl.name for lvl in lower}}
        values = {"none": 0, **{lvl.name: lvl.value for lvl in lower}}
        levels = " ".join(f"[{lvl.key}] {lvl.name} {lvl.value}" for lvl in lower)
        try:
            return values[self.ask(f"progress reached: {levels} [{NO_PROGRESS_KEY}] none > ", choices)]
        except OperatorQuit:
            self.say("")
        except KeyboardInterrupt:
            self.pause_requested = True
            self.say("")
        return None

    def ask_note(self, prompt: str) -> str:
        """One optional free-text line: end of input or Ctrl-C give an empty note (Ctrl-C also asks for a pause);
        bytes that are not UTF-8 are kept as U+FFFD, a long line is cut to NOTE_MAX characters."""
        self.stdout.write(prompt)
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
        return note

    def ask_reason(self) -> str:
        """Why the session is void (kept with it): one line, which may be empty."""
        return self.ask_note("   the whole session will be marked invalid (kept, left out of reports). reason > ")

    def ask_preference(self, label_a: str, label_b: str) -> tuple[str, str] | None:
        """Blind A/B: which of the two runs of this scene did better, and an optional note. None when input ends
        (or Ctrl-C, which asks for a pause) before an answer: no preference is recorded."""
        try:
            pick = self.ask(f"which did better on this scene? [a] {label_a} [b] {label_b} [t] tie > ",
                            PREFERENCE_KEYS)
        except OperatorQuit:
            self.say("")
            return None
        except KeyboardInterrupt:
            self.pause_requested = True
            self.say("")
            return None
        note = "" if self.pause_requested or self.closed else self.ask_note("why (Enter for none) > ")
        return pick, note

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
