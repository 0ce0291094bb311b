"""One trial in closed loop: policy text -> action chunk -> split -> safety envelope -> backend -> validator.

    obs0 = backend.reset(scene); policy.start(instruction, obs0, ood)
    each cycle: act -> (malformed text: nothing moves, counted, the cycle still counts against the budget)
                -> each chunk step split into sub-steps <= max_step -> envelope -> backend.move
                -> validator.decide(before, after, sub-task, next) -> policy.advance
    until the policy is done, the cycle or time budget is spent, or the operator stops the trial.

A served policy that fails (`PolicyServerError`: the server died, stalled past the spec's timeout or answered
garbage) ends the trial at once: nothing more moves, the arm goes to its sleep pose, and the reason is the trial's
`fault` (a `fault` line in cycles.jsonl, stop reason `policy_server_fault`); the session scores it `invalid`.

Everything is recorded as it happens under the trial directory: `cycles.jsonl` (one line per cycle, flushed:
stage texts, chunk, every envelope verdict, IK failures, the decision and its reason, timings), `frames/` (every
observation as PNG) and `trial.gif`. The runner never scores: the console (or the backend's detector) does.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image

from harness.actions.types import chunk_to_lists
from harness.policy.base import Decision, Observation, Policy, Validator
from harness.records.outcomes import StopReason
from harness.robot.backend import MotionCommand, RobotBackend, SceneSetup
from harness.robot.envelope import Envelope, split_step
from harness.serve.errors import PolicyServerError
from harness.specs.task import TaskSpec

log = logging.getLogger(__name__)
GIF_WIDTH = 320
MIN_MOTION_M = 1e-4  # a step shorter than this (and no gripper) is not sent: it would cost a full moving time


class StopSignal(Protocol):
    def stop_requested(self) -> bool: ...


@dataclass
class TrialResult:
    scene: SceneSetup
    subtasks: list[str]
    stop_reason: StopReason
    started_at: float  # time.time()
    duration_s: float
    cycles: int = 0
    retries: int = 0
    proceeds: int = 0
    parse_failures: int = 0
    ik_failures: int = 0
    envelope_clipped: int = 0
    envelope_rejected: int = 0
    decisions: list[dict] = field(default_factory=list)
    log_path: str = ""
    frames_path: str = ""
    gif_path: str = ""
    fault: str = ""  # why the policy server failed this trial (stop reason policy_server_fault); "" = none


class TrialRecorder:
    """Writes the per-cycle log and the frames of one trial as they happen (each line flushed to disk)."""

    def __init__(self, out_dir: Path):
        self.dir = Path(out_dir)
        self.frames_dir = self.dir / "frames"
        self.frames_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "cycles.jsonl"
        self._log = self.log_path.open("a", encoding="utf-8")
        self._thumbs: list[Image.Image] = []
        self.n_frames = 0

    def event(self, record: dict[str, Any]) -> None:
        self._log.write(json.dumps(record, ensure_ascii=False, default=_jsonable) + "\n")
        self._log.flush()

    def frame(self, image: np.ndarray) -> str:
        img = Image.fromarray(np.ascontiguousarray(image).astype(np.uint8)).convert("RGB")
        name = f"{self.n_frames:04d}.png"
        img.save(self.frames_dir / name)
        self.n_frames += 1
        scale = min(1.0, GIF_WIDTH / img.width)
        self._thumbs.append(img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale)))))
        return name

    def close(self) -> Path | None:
        self._log.close()
        if not self._thumbs:
            return None
        gif = self.dir / "trial.gif"
        self._thumbs[0].save(gif, save_all=True, append_images=self._thumbs[1:], duration=500, loop=0)
        self._thumbs.clear()
        return gif


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    return str(v)


def _finite_point(p: Any) -> tuple[float, float, float] | None:
    try:
        t = tuple(float(v) for v in p)
    except (TypeError, ValueError):
        return None
    return t if len(t) == 3 and all(math.isfinite(v) for v in t) else None  # type: ignore[return-value]


def run_trial(policy: Policy, backend: RobotBackend, validator: Validator, envelope: Envelope, task: TaskSpec,
              scene: SceneSetup, out_dir: Path, start_position: tuple[float, float, float], *,
              stop: StopSignal | None = None, on_cycle: Callable[[dict], None] | None = None,
              clock: Callable[[], float] = time.monotonic) -> TrialResult:
    """Run one trial to its end; see the module doc. Exceptions (and Ctrl-C) propagate after the log is closed."""
    rec = TrialRecorder(out_dir)
    started_wall, t0 = time.time(), clock()
    result = TrialResult(scene, [], StopReason.POLICY_DONE, started_wall, 0.0, log_path=str(rec.log_path),
                         frames_path=str(rec.frames_dir))
    try:
        obs = backend.reset(scene)
        position = _finite_point(obs.ee_position) or start_position
        first = rec.frame(obs.image)
        result.subtasks = list(policy.start(scene.instruction, obs, task.out_of_distribution))
        control = getattr(policy, "control", None)  # a baseline's own evaluation settings (ModelSpec.control)
        budget = control.max_steps if control is not None and control.max_steps else task.cycle_budget
        period, cycle_t0 = (1.0 / control.hz if control is not None and control.hz else 0.0), time.monotonic()
        rec.event({"event": "start", "scene": scene.__dict__, "instruction": scene.instruction,
                   "language": scene.language, "subtasks": result.subtasks, "ee": position, "frame": first,
                   **({"control": control.__dict__} if control is not None else {})})
        while True:
            if policy.done:
                result.stop_reason = StopReason.POLICY_DONE
                break
            if stop is not None and stop.stop_requested():
                result.stop_reason = StopReason.OPERATOR_STOP
                break
            if result.cycles >= budget:
                result.stop_reason = StopReason.CYCLE_BUDGET
                break
            if clock() - t0 >= task.time_budget_s:
                result.stop_reason = StopReason.TIME_BUDGET
                break
            if period and result.cycles:  # the model's own control rate (OpenVLA 5 Hz, ECoT 2 Hz)
                time.sleep(max(0.0, period - (time.monotonic() - cycle_t0)))
            cycle_t0 = time.monotonic()
            obs, position, line = _cycle(policy, backend, validator, envelope, obs, position, rec, result, stop)
            if on_cycle is not None:
                on_cycle(line)
            if line.get("stopped"):
                result.stop_reason = StopReason.OPERATOR_STOP
                break
    except PolicyServerError as e:
        backend.sleep()  # the arm is between commands (moves block): park it before anything else
        result.stop_reason, result.fault = StopReason.POLICY_SERVER_FAULT, str(e)
        rec.event({"event": "fault", "cycle": result.cycles, "reason": result.fault})
        log.error("policy server fault in cycle %d: %s", result.cycles, e)
    finally:
        result.duration_s = clock() - t0
        rec.event({"event": "end", "stop_reason": result.stop_reason, "cycles": result.cycles,
                   "duration_s": round(result.duration_s, 3)})
        gif = rec.close()
        result.gif_path = str(gif) if gif else ""
    return result


def _cycle(policy: Policy, backend: RobotBackend, validator: Validator, envelope: Envelope, before: Observation,
           position: tuple[float, float, float], rec: TrialRecorder, result: TrialResult,
           stop: StopSignal | None) -> tuple[Observation, tuple[float, float, float], dict]:
    result.cycles += 1
    line: dict[str, Any] = {"event": "cycle", "cycle": result.cycles, "ee_before": position}
    t = time.monotonic()
    out = policy.act(before)
    line.update(subtask=out.subtask, plan=out.plan, action_text=out.action_text, texts=out.texts, stats=out.stats,
                act_s=round(time.monotonic() - t, 4))
    if out.chunk is None:
        result.parse_failures += 1
        decision = Decision("retry", f"malformed action text, nothing moved: {out.parse_error}", "runner")
        line.update(parse_error=out.parse_error, chunk=None, steps=[], decision=decision.__dict__)
        rec.event(line)
        policy.advance(decision)
        return before, position, line
    line["chunk"] = chunk_to_lists(out.chunk)
    steps, t = [], time.monotonic()
    for i, step in enumerate(out.chunk):
        for j, sub in enumerate(split_step(step, envelope.max_step, envelope.max_rotation)):
            if stop is not None and stop.stop_requested():
                line["stopped"] = True
                break
            check = envelope.check(position, sub.dx, sub.dy, sub.dz, sub.gripper, sub.rotation)
            entry = {"step": i, "sub": j, **check.to_dict(), "ee": position}
            if check.verdict == "clipped":
                result.envelope_clipped += 1
            if check.command is None:
                result.envelope_rejected += 1
                entry["executed"] = False
            elif (check.command.gripper is None and math.hypot(*astuple(check.command)[:3]) < MIN_MOTION_M
                  and not any(check.command.rotation)):
                entry.update(executed=False, reason="no_motion")  # e.g. clipped to nothing at the box face
            else:
                position = _move(backend, check.command, position, entry, result)
            steps.append(entry)
        if line.get("stopped"):
            break
    line.update(steps=steps, move_s=round(time.monotonic() - t, 4))
    after = backend.observe()
    position = _finite_point(after.ee_position) or position
    line.update(ee_after=position, frame=rec.frame(after.image))
    if line.get("stopped"):
        rec.event(line)
        return after, position, line
    t = time.monotonic()
    decision = validator.decide(before, after, out.subtask, policy.next_subtask)
    line["validate_s"] = round(time.monotonic() - t, 4)
    if decision.action == "retry":
        result.retries += 1
    else:
        result.proceeds += 1
    result.decisions.append({"cycle": result.cycles, **decision.__dict__})
    line["decision"] = decision.__dict__
    rec.event(line)  # logged before a served policy hears the decision: a server failing then loses no step
    policy.advance(decision)
    return after, position, line


def _move(backend: RobotBackend, command: MotionCommand, position: tuple[float, float, float], entry: dict,
          result: TrialResult) -> tuple[float, float, float]:
    res = backend.move(command)
    entry.update(executed=res.executed, reason=res.reason)
    if not res.executed:
        if res.reason == "ik_failure":
            result.ik_failures += 1
        log.warning("step %s not executed: %s", entry["command"], res.reason or "no reason given")
        return _finite_point(res.ee_position) or position
    reported = _finite_point(res.ee_position)
    if reported is not None:
        return reported
    return (position[0] + command.dx, position[1] + command.dy, position[2] + command.dz)
