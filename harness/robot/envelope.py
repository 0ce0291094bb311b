"""The safety envelope: the one checker every motion passes before any backend sees it.

A step is relative to where the end effector is. The envelope knows that position (the runner tracks it) and
checks, in this order: every value finite (otherwise reject - a NaN cannot be clipped into meaning), the gripper in
[0, 1], the target (position + step) inside the workspace box, the step's length at most `max_step_cm`, and each
rotation angle (droll, dpitch, dyaw: only the baselines rotate) at most `max_rotation_rad`. Depending on the robot
config an offending step is clipped (target clamped into the box, then the step scaled down to the limit - the box
is convex, so the shortened step still ends inside it; each angle clipped to the limit, as Bridge's controller
does) or rejected (no motion). Whatever comes out
is checked once more, so a bug in clipping can only ever reject. Every verdict is logged.

`split_step` is the runner's: a decoded chunk step longer than the limit (the merge rule makes 5-7 cm steps), or
turning further than the rotation limit, is cut into equal sub-steps first, so a legitimate step is executed in full rather than cut short; each sub-step
then passes the envelope on its own.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal

from harness.actions.types import ActionStep
from harness.robot.backend import MotionCommand
from harness.specs.robot import RobotSpec

log = logging.getLogger(__name__)

EPS = 1e-9  # metres; float slack of the final check
Verdict = Literal["ok", "clipped", "rejected"]
Point = tuple[float, float, float]


@dataclass
class EnvelopeCheck:
    """What the envelope did with one requested step."""

    verdict: Verdict
    requested: tuple[float, float, float, float | None]  # dx, dy, dz, gripper as asked for
    command: MotionCommand | None  # what may reach the backend; None when rejected
    reasons: list[str] = field(default_factory=list)
    requested_rotation: tuple[float, float, float] | None = None  # droll, dpitch, dyaw as asked for (baselines)

    def to_dict(self) -> dict:
        cmd = self.command
        out = {"verdict": self.verdict, "requested": list(self.requested), "reasons": self.reasons,
               "command": None if cmd is None else [cmd.dx, cmd.dy, cmd.dz, cmd.gripper]}
        if self.requested_rotation is not None:  # only steps that rotate log it (VLM2VLA's lines stay as they were)
            out.update(requested_rotation=list(self.requested_rotation),
                       command_rotation=None if cmd is None else list(cmd.rotation))
        return out


def _finite(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


class Envelope:
    """Workspace box + per-step translation and rotation limits of a robot config, in clip or reject mode."""

    def __init__(self, spec: RobotSpec):
        self.lo: Point = tuple(float(v) for v in spec.workspace.min)  # type: ignore[assignment]
        self.hi: Point = tuple(float(v) for v in spec.workspace.max)  # type: ignore[assignment]
        self.max_step = spec.max_step_cm / 100
        self.max_rotation = float(spec.max_rotation_rad)
        self.mode = spec.out_of_envelope

    def inside(self, p: Point, eps: float = EPS) -> bool:
        return all(lo - eps <= v <= hi + eps for v, lo, hi in zip(p, self.lo, self.hi, strict=True))

    def admits(self, position: Point, command: MotionCommand) -> bool:
        """The invariant every command reaching a backend satisfies (tests check recorded calls with it)."""
        d = (command.dx, command.dy, command.dz)
        if not all(_finite(v) for v in (*d, *position)):
            return False
        if command.gripper is not None and not (_finite(command.gripper) and 0.0 <= command.gripper <= 1.0):
            return False
        if not all(_finite(a) and abs(a) <= self.max_rotation + EPS for a in command.rotation):
            return False
        target = tuple(p + v for p, v in zip(position, d, strict=True))
        return math.hypot(*d) <= self.max_step + EPS and self.inside(target)  # type: ignore[arg-type]

    def check(self, position: Point, dx: float, dy: float, dz: float, gripper: float | None = None,
              rotation: tuple[float, float, float] | None = None) -> EnvelopeCheck:
        """Check one step from `position` (metres, base frame); `rotation` = (droll, dpitch, dyaw) rad, if any."""
        requested = (dx, dy, dz, gripper)
        reasons: list[str] = []

        def reject(why: str) -> EnvelopeCheck:
            reasons.append(why)
            log.warning("envelope rejected step %s rotation %s from %s: %s", requested, rotation, position,
                        "; ".join(reasons))
            return EnvelopeCheck("rejected", requested, None, reasons, rotation)

        if not all(_finite(v) for v in (dx, dy, dz)):
            return reject("non-finite translation")
        angles = (0.0, 0.0, 0.0) if rotation is None else tuple(rotation)
        if len(angles) != 3 or not all(_finite(a) for a in angles):
            return reject(f"rotation {rotation} is not 3 finite angles")
        over = [f"{name} {a:.3f} rad" for name, a in zip(("droll", "dpitch", "dyaw"), angles, strict=True)
                if abs(a) > self.max_rotation]
        if over:
            if self.mode == "reject":
                return reject(f"rotation {', '.join(over)} beyond {self.max_rotation} rad per step")
            reasons.append(f"rotation {', '.join(over)} clipped to {self.max_rotation} rad")
            angles = tuple(min(self.max_rotation, max(-self.max_rotation, float(a))) for a in angles)
        if not all(_finite(v) for v in position):
            return reject(f"end-effector position unknown or non-finite: {position}")
        if gripper is not None:
            if not _finite(gripper):
                return reject("non-finite gripper value")
            if not 0.0 <= gripper <= 1.0:
                if self.mode == "reject":
                    return reject(f"gripper {gripper} outside [0, 1]")
                reasons.append(f"gripper {gripper} clipped to [0, 1]")
                gripper = min(1.0, max(0.0, float(gripper)))
        step = [float(dx), float(dy), float(dz)]
        target = [p + v for p, v in zip(position, step, strict=True)]
        if not self.inside(tuple(target), eps=0.0):  # type: ignore[arg-type]
            if self.mode == "reject":
                return reject(f"target {_cm(target)} outside the workspace box")
            clamped = [min(hi, max(lo, t)) for t, lo, hi in zip(target, self.lo, self.hi, strict=True)]
            reasons.append(f"target {_cm(target)} clamped into the workspace box")
            step = [c - p for c, p in zip(clamped, position, strict=True)]
        length = math.hypot(*step)
        if length > self.max_step:
            if self.mode == "reject":
                return reject(f"step {100 * length:.1f} cm longer than {100 * self.max_step:.1f} cm")
            reasons.append(f"step {100 * length:.1f} cm scaled down to {100 * self.max_step:.1f} cm")
            scale = self.max_step / length * (1 - 1e-12)
            step = [v * scale for v in step]
        command = MotionCommand(step[0], step[1], step[2], gripper, *(float(a) for a in angles))
        if not self.admits(position, command):  # e.g. the arm itself is outside the box: no safe clip exists
            return reject("no step inside the envelope from here (is the arm outside the workspace box?)")
        if reasons:
            log.info("envelope clipped step %s rotation %s from %s: %s", requested, rotation, position,
                     "; ".join(reasons))
            return EnvelopeCheck("clipped", requested, command, reasons, rotation)
        return EnvelopeCheck("ok", requested, command, [], rotation)


def _cm(p: list[float]) -> str:
    return "(" + ", ".join(f"{100 * v:.1f}" for v in p) + ") cm"


def split_step(step: ActionStep, max_step_m: float, max_rotation_rad: float | None = None) -> list[ActionStep]:
    """Cut a step longer than `max_step_m` (or turning any angle further than `max_rotation_rad`) into the fewest
    equal sub-steps within the limits; translation and rotation are divided alike.

    The gripper (absolute state) goes on the first sub-step: it is the state during the whole step (merge rule).
    A non-finite or absurdly long step is returned whole; the envelope rejects or clips it.
    """
    length = math.hypot(step.dx, step.dy, step.dz)
    turn = max((abs(a) for a in step.rotation), default=0.0) if step.rotation else 0.0
    n = max(1.0 if length <= max_step_m else length / max_step_m,
            1.0 if max_rotation_rad is None or turn <= max_rotation_rad else turn / max_rotation_rad)
    if not math.isfinite(n) or n <= 1.0:
        return [step]
    n = math.ceil(n - 1e-9)
    if n > 1000:  # a codec never yields this (it caps at 10 m); the envelope clips one step instead
        return [step]
    part = (step.dx / n, step.dy / n, step.dz / n)
    rotation = None if step.rotation is None else tuple(a / n for a in step.rotation)
    return [ActionStep(*part, gripper=step.gripper if i == 0 else None, rotation=rotation)  # type: ignore[arg-type]
            for i in range(n)]
