"""One interface for every robot: the real WidowX 250S, the MuJoCo simulator, and the dry run.

A backend receives only commands that have already passed the safety envelope (`harness.robot.envelope`). It is a
context manager: leaving the block - normally, on an error or on Ctrl-C - puts the arm in its sleep pose and
releases the hardware.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from harness.policy.base import Observation


@dataclass(frozen=True)
class MotionCommand:
    """One end-effector step after the envelope: relative translation (m), absolute gripper (None = keep) and a
    relative rotation (rad, Bridge's droll/dpitch/dyaw; only the baselines predict one, and only backends that can
    rotate execute it - the others log that they ignore it)."""

    dx: float
    dy: float
    dz: float
    gripper: float | None = None
    droll: float = 0.0
    dpitch: float = 0.0
    dyaw: float = 0.0

    @property
    def rotation(self) -> tuple[float, float, float]:
        return (self.droll, self.dpitch, self.dyaw)


@dataclass
class MotionResult:
    executed: bool
    reason: str = ""  # e.g. "ik_failure": no motion happened
    ee_position: tuple[float, float, float] | None = None


@dataclass
class SceneSetup:
    """What is on the table for one trial (drawn from the task's seeded schedule)."""

    task: str
    trial_index: int
    instruction: str
    language: str
    target: str
    destination: str | None = None
    positions: dict[str, tuple[float, float]] = field(default_factory=dict)  # object -> (x, y) m, base frame
    distractors: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """The setup as the operator reads it at the start of a trial."""
        where = ", ".join(f"{name} at x={x * 100:.0f} cm, y={y * 100:+.0f} cm" for name, (x, y) in self.positions.items())
        return f"Place: {where}" if where else "No placement given"


class RobotBackend(ABC):
    name: str = "backend"

    @abstractmethod
    def connect(self) -> None: ...

    @abstractmethod
    def disconnect(self) -> None: ...

    @abstractmethod
    def reset(self, scene: SceneSetup) -> Observation:
        """Home the arm and (where the backend can) arrange the scene; return the first observation."""

    @abstractmethod
    def observe(self) -> Observation: ...

    @abstractmethod
    def move(self, command: MotionCommand) -> MotionResult:
        """Execute one checked step. IK failure = no motion, reported, never raised."""

    @abstractmethod
    def sleep(self) -> None:
        """Go to the sleep pose (safe to call repeatedly)."""

    def success(self) -> bool | None:
        """The backend's own success detector for the current trial, or None where it has none (real robot)."""
        return None

    def progress(self) -> int | None:
        """The backend's own partial-success score (0..100 on the task's rubric) for the current trial, or None
        where it cannot measure one (real robot: the operator gives it)."""
        return None

    def __enter__(self) -> RobotBackend:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.sleep()
        finally:
            self.disconnect()
