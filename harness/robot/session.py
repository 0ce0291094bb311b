"""A trial session: one task, one or more models on the same seeded schedule, blind and interleaved.

    with backend:                                  # sleep pose + disconnect on any exit
        for each pass until every trial has a final score (invalid ones come back in the next pass):
            for trial k, for each model in the blind order of k, unless the log already has its final score:
                show the trial (label only), run it in closed loop, score it (operator or the backend's
                detector), commit the score to the trial log at once
    reveal which label was which model

Ctrl-C anywhere puts the arm in its sleep pose and asks whether to quit; an interrupted trial is not scored: going
on runs it again from its start, quitting leaves it for the next run. Nothing but a given score is ever written,
and a given score is always written (Ctrl-C or end of input at the note prompt keeps it, with no note). Once the
operator's input has ended no further trial is started: nobody could score it.

A served policy's failure mid-trial (see `harness.robot.runner`) is scored `invalid` with the reason as its note,
without asking, and ends the session (every later trial would fail alike): once the server is back, the same
command resumes, re-running that trial first.

A score carries the trial's partial success on the task's rubric (the operator's answer, or the backend's
detector with --operator auto). At the score prompt the operator may redo the previous trial (its score is kept,
superseded, and it runs again right after the current one) or void the whole session (kept with the reason, its
scores stop counting, the session ends). In blind A/B sessions, once two policies have a success/failure on the
same scene the operator says which did better; a preference left unanswered (input ended, a kill) is asked when
the session resumes. The scene card names a reference image of the scene (the simulator's render of the same
schedule entry) where the session has a renderer, written into the trial directory.
"""

from __future__ import annotations

import logging
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from harness.paths import REPO_ROOT
from harness.policy.base import Policy, Validator
from harness.records.atomic import atomic_path
from harness.records.environment import env_of
from harness.records.outcomes import Outcome, StopReason
from harness.robot.backend import RobotBackend, SceneSetup
from harness.robot.console import REDO, VOID, OperatorConsole, OperatorQuit, Score
from harness.robot.envelope import Envelope
from harness.robot.runner import TrialResult, run_trial
from harness.robot.schedule import BlindPlan, blind_plan, trial_schedule
from harness.robot.triallog import PairRecord, TrialLog, TrialRecord
from harness.serve.errors import PolicyServerError
from harness.specs.robot import RobotSpec
from harness.specs.task import TaskSpec

OPERATORS = ("human", "auto")
REFERENCE_NAME = "reference.png"  # the reference image of the scene, in the trial directory

# The simulator's render of a scheduled scene (None where it has none); the session's wiring provides it.
ReferenceRenderer = Callable[[SceneSetup], "np.ndarray | None"]

logger = logging.getLogger(__name__)


class SessionVoid(Exception):
    """The operator declared the session invalid (the log keeps it with the reason)."""


@dataclass
class SessionConfig:
    task: TaskSpec
    robot: RobotSpec
    models: list[str]
    operator: str = "human"
    trials: int | None = None  # default: the task's
    session_seed: int = 0
    schedule_seed: int | None = None  # default: the task's
    validator: str = "none"
    out_dir: Path = field(default_factory=lambda: Path("results") / "robot")  # trial directories go under here

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ValueError(f"--operator {self.operator!r}: choose one of {', '.join(OPERATORS)}")
        self.trials = self.task.trials if self.trials is None else self.trials
        if self.trials <= 0:
            raise ValueError(f"--trials must be > 0, got {self.trials}")
        if self.schedule_seed is None:
            self.schedule_seed = self.task.schedule_seed


@dataclass
class SessionSummary:
    session_id: str
    plan: BlindPlan
    scored: int = 0  # scores given in this session (final or invalid)
    end_reason: str = "complete"  # complete | operator_quit | invalid | policy_server_fault
    remaining: int = 0  # trials still to run when the session ended
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)  # model -> outcome -> count (this session)
    preferences: int = 0  # blind A/B preferences recorded in this session
    redone: int = 0  # earlier scores the operator superseded by redoing the trial


def has_success_detector(backend: RobotBackend) -> bool:
    return type(backend).success is not RobotBackend.success


def _rel(path: str | Path) -> str:
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO_ROOT))
    except ValueError:
        return str(p)


class Session:
    def __init__(self, cfg: SessionConfig, backend: RobotBackend, policy_for: Callable[[str], Policy],
                 validator: Validator, log: TrialLog, console: OperatorConsole, session_id: str | None = None,
                 reference: ReferenceRenderer | None = None):
        if cfg.operator == "auto" and not has_success_detector(backend):
            raise ValueError(f"--operator auto needs a backend with its own success detector; {backend.name!r} has "
                             "none (use --robot sim, or --operator human)")
        self.cfg, self.backend, self.policy_for, self.validator = cfg, backend, policy_for, validator
        self.log, self.console = log, console
        self.envelope = Envelope(cfg.robot)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        self.session_id = session_id or f"{stamp}-{cfg.task.name}-{secrets.token_hex(2)}"
        self.plan = blind_plan(cfg.models, cfg.trials, cfg.session_seed)  # type: ignore[arg-type]
        self.scenes = trial_schedule(cfg.task, cfg.trials, cfg.schedule_seed)
        self.reference = reference
        self._redo: list[tuple[int, str]] = []  # (trial, model) the operator asked to run again next

    # ---------------------------------------------------------------- bookkeeping
    def _scored(self) -> dict[str, set[int]]:
        c = self.cfg
        return {m: self.log.scored(c.task.name, m, c.schedule_seed) for m in c.models}  # type: ignore[arg-type]

    def _pending(self) -> list[tuple[int, str]]:
        scored = self._scored()
        return [(k, m) for k in range(self.cfg.trials) for m in self.plan.order[k]  # type: ignore[arg-type]
                if k not in scored[m]]

    def _progress(self) -> dict[str, tuple[int, int]]:
        n = self.cfg.trials
        return {self.plan.labels[m]: (len([k for k in s if k < n]), n) for m, s in self._scored().items()}  # type: ignore[misc]

    def _trial_dir(self, model: str, k: int) -> Path:
        base = Path(self.cfg.out_dir) / self.session_id / model / f"trial-{k:03d}"
        d, run = base, 1
        while d.exists():
            run += 1
            d = base.with_name(f"{base.name}-r{run}")
        return d

    # ---------------------------------------------------------------- the loop
    def run(self) -> SessionSummary:
        c = self.cfg
        summary = SessionSummary(self.session_id, self.plan)
        resumed = sum(len(s) for s in self._scored().values())
        self.log.start_session(self.session_id, c.task.name, c.models, self.plan.labels, c.robot.name, c.operator,
                               c.validator, c.session_seed, c.schedule_seed, c.trials)  # type: ignore[arg-type]
        self.console.session_header(c.task.name, c.robot.name, len(c.models), c.trials, c.operator,  # type: ignore[arg-type]
                                    c.validator, resumed)
        try:
            with self.backend:
                self._preferences_then_pause(summary)  # left unanswered by an earlier run
                while pending := self._pending():
                    for k, model in pending:
                        if k in self._scored()[model]:
                            continue
                        self._one(k, model, summary)
                        while self._redo:  # the operator redid the previous trial: it runs right away
                            self._one(*self._redo.pop(0), summary, redo=True)
        except OperatorQuit:
            summary.end_reason = "operator_quit"
        except PolicyServerError as e:
            summary.end_reason = StopReason.POLICY_SERVER_FAULT.value
            self.console.say(f"!! the policy server failed: {e}")
            self.console.say("   that trial is scored invalid; rerun the same command once the server is back")
        except SessionVoid:
            summary.end_reason = "invalid"
        except BaseException as e:
            summary.end_reason = f"error: {type(e).__name__}: {e}"[:500]
            raise
        finally:
            self.log.end_session(self.session_id, summary.end_reason)
        summary.remaining = len(self._pending())
        self.console.say("")
        self.console.say(f"== session {self.session_id} {summary.end_reason}: {summary.scored} score(s) recorded, "
                         f"{summary.remaining} trial(s) still to run")
        self.console.say(f"   blind labels: {self.plan.reveal()}")
        for model, counts in summary.outcomes.items():
            self.console.say(f"   {model}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v))
        return summary

    def _one(self, k: int, model: str, summary: SessionSummary, redo: bool = False) -> None:
        """Run and score trial k of `model`; Ctrl-C pauses and asks (raises OperatorQuit to end the session,
        SessionVoid when the operator voids it)."""
        c, scene = self.cfg, self.scenes[k]
        label = self.plan.labels[model]
        note = " (redo: set the scene up as described)" if redo else ""
        if c.operator == "human" and self.console.closed:
            raise OperatorQuit("input closed")
        while True:
            trial_dir = self._trial_dir(model, k)
            self.console.trial_header(k, c.trials, label, self._progress(), scene, c.task.success_text,  # type: ignore[arg-type]
                                      note, self._reference(scene, trial_dir))
            try:
                result = self._run(model, scene, k, trial_dir)
                break
            except KeyboardInterrupt:
                self._pause()  # not scored; going on means running this trial again from its start
                note = " (again, after a pause: set the scene up as described)"
        if result.fault:  # nobody scores a trial the policy server broke off: it is redone
            score = Score(Outcome.INVALID, f"policy server fault: {result.fault}")
        while not result.fault:
            try:
                score = self._score()
            except KeyboardInterrupt:
                self._pause()
                continue
            if score.outcome == VOID:
                self._void(score.note)
            if score.outcome == REDO:
                self._request_redo(summary)
                continue  # this trial still needs its own score
            break
        outcome, note = score.outcome, score.note
        rec = self.log.record(TrialRecord(
            session_id=self.session_id, task=c.task.name, model=model, robot=c.robot.name, operator=c.operator,
            blind_label=label, schedule_seed=c.schedule_seed, trial_index=k, instruction=scene.instruction,  # type: ignore[arg-type]
            language=scene.language, outcome=outcome, note=note,
            started_at=datetime.fromtimestamp(result.started_at, UTC).isoformat(timespec="seconds"),
            duration_s=round(result.duration_s, 3), cycles=result.cycles, retries=result.retries,
            parse_failures=result.parse_failures, proceeds=result.proceeds, ik_failures=result.ik_failures,
            envelope_clipped=result.envelope_clipped, envelope_rejected=result.envelope_rejected,
            validator=self.validator.name, stop_reason=result.stop_reason, decisions=result.decisions,
            progress=score.progress, env=env_of(getattr(self.policy_for(model), "loaded", None)),
            scene={"positions": {n: list(p) for n, p in scene.positions.items()}, "distractors": scene.distractors},
            frames_path=_rel(result.gif_path) if result.gif_path else _rel(result.frames_path),
            log_path=_rel(result.log_path)))
        summary.scored += 1
        counts = summary.outcomes.setdefault(model, {})
        counts[outcome] = counts.get(outcome, 0) + 1
        self.console.say(f"   recorded: trial {k + 1} {label} = {outcome}"
                         + (f", progress {rec.progress}" if rec.progress is not None else "")
                         + (f" (attempt {rec.attempt})" if rec.attempt > 1 else "")
                         + (" - it will be run again" if outcome == Outcome.INVALID else ""))
        if result.fault:
            raise PolicyServerError(result.fault)
        self._preferences_then_pause(summary, k)

    def _preferences_then_pause(self, summary: SessionSummary, k: int | None = None) -> None:
        """Ask the open preferences; Ctrl-C at a prompt after the score (the score is in) pauses, then asks on."""
        while True:
            self._ask_preferences(summary, k)
            if not self.console.pause_requested:
                return
            self.console.pause_requested = False
            self._pause()

    def _run(self, model: str, scene: SceneSetup, k: int, trial_dir: Path | None = None) -> TrialResult:
        policy = self.policy_for(model)
        self.console.start_trial()
        return run_trial(policy, self.backend, self.validator, self.envelope, self.cfg.task, scene,
                         trial_dir or self._trial_dir(model, k), tuple(self.cfg.robot.start_ee),  # type: ignore[arg-type]
                         stop=self.console, on_cycle=self.console.cycle_line)

    def _score(self) -> Score:
        if self.cfg.operator == "human":
            return self.console.ask_score(self.cfg.task.progress, commands=True)
        ok = self.backend.success()
        if ok is None:
            raise RuntimeError(f"backend {self.backend.name!r} returned no success verdict (--operator auto)")
        outcome = Outcome.SUCCESS if ok else Outcome.FAILURE
        progress = self.backend.progress() if self.cfg.task.progress else None
        self.console.say(f"   auto score: {outcome}" + (f", progress {progress}" if progress is not None else ""))
        return Score(outcome, "scored by the backend's success detector", progress)

    # ---------------------------------------------------------------- issue 19: redo, void, preferences, reference
    def _request_redo(self, summary: SessionSummary) -> None:
        """Supersede the previous final score of this session and queue its trial to run next."""
        prev = self.log.last_final(self.session_id)
        if prev is None:
            self.console.say("   nothing to redo: no trial of this session has a final score yet")
            return
        self.log.supersede(prev.id, f"redone: the operator superseded attempt {prev.attempt}")
        self._redo.append((prev.trial_index, prev.model))
        summary.redone += 1
        self.console.say(f"   trial {prev.trial_index + 1} {prev.blind_label} ({prev.outcome}) is kept but "
                         "superseded; it runs again once this trial is scored")

    def _void(self, reason: str) -> None:
        n = self.log.invalidate_session(self.session_id, reason)
        self.console.say(f"   session {self.session_id} marked invalid ({reason or 'no reason given'}): its {n} "
                         "score(s) are kept but no longer count; rerun the command to run them again")
        raise SessionVoid(reason)

    def _ask_preferences(self, summary: SessionSummary, k: int | None = None) -> None:
        """Blind A/B: ask which run did better for every pair of runs of a scene that has none yet (of trial k,
        or of every trial). Stops asking when input ends."""
        c = self.cfg
        if c.operator != "human" or len(c.models) < 2:
            return
        for a, b in self.log.unpaired(c.task.name, c.schedule_seed, c.models, k):  # type: ignore[arg-type]
            if self.console.closed or self.console.pause_requested:
                return
            if k is None:
                self.console.say(f"   trial {a.trial_index + 1}: {a.blind_label} {a.outcome}, {b.blind_label} "
                                 f"{b.outcome} (scored earlier, no preference yet)")
            answer = self.console.ask_preference(a.blind_label, b.blind_label)
            if answer is None:
                return
            pick, note = answer
            self.log.record_pair(PairRecord(
                session_id=self.session_id, task=c.task.name, schedule_seed=c.schedule_seed,  # type: ignore[arg-type]
                scene_index=a.trial_index, model_a=a.model, model_b=b.model, trial_a=a.id, trial_b=b.id,
                preference=pick, note=note))
            summary.preferences += 1

    def _reference(self, scene: SceneSetup, trial_dir: Path) -> str:
        """Write the reference image of `scene` for the operator; the path shown, or "". The shown copy is named by
        the scene alone (`<session>/reference/scene-NNN.png`, rendered once per scene): the trial directory's
        path names the model, which would unblind an A/B session. The trial directory keeps its own copy."""
        if self.reference is None or self.cfg.operator != "human":
            return ""
        shown = Path(self.cfg.out_dir) / self.session_id / "reference" / f"scene-{scene.trial_index:03d}.png"
        if not shown.exists():
            try:
                image = self.reference(scene)
            except Exception as e:  # a missing GL stack must not stop a session on the real arm
                logger.warning("no reference image of the scene: %s: %s (the session goes on without one)",
                               type(e).__name__, e)
                self.reference = None
                return ""
            if image is None:
                return ""
            with atomic_path(shown, keep_suffix=True) as tmp:
                Image.fromarray(np.asarray(image, np.uint8)).save(tmp)
        trial_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shown, trial_dir / REFERENCE_NAME)
        return _rel(shown)

    def _pause(self) -> None:
        """Ctrl-C: arm to its sleep pose first, then ask. A second Ctrl-C (or closed input) quits."""
        self.backend.sleep()
        self.console.say("")
        try:
            quit_ = self.console.ask_quit()
        except KeyboardInterrupt:
            quit_ = True
        if quit_:
            raise OperatorQuit("operator quit")
