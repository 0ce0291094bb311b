"""Automatic success detection per task kind (`TaskSpec.success_check`), from the simulator's physical state.

- pickup: the target's centre is more than 5 cm above where it rested on the table, and both finger pads touch it.
- pick_place: the target's lowest point (its frame height less its resting height) is inside the destination's
  region (`objects.Region`, a vertical cylinder over the receptacle) and no finger touches it.
- pick_place_lift: pick_place held at some point after a move (latched: placed and released), and afterwards the
  target is lifted more than 5 cm above where it was placed and held - in that order.

Partial success (the task's `progress` rubric): the tracker latches the milestones a trial reached at any step -
reached (the end effector within 4 cm of the target's centre, or a pad touching it), grasped (both pads), lifted
(picked up), carried (held, lifted, over the destination's region), placed (inside the region), released (placed
and let go). A success scores the rubric's top level (100); otherwise the highest lower level whose milestone was
reached, so a trial that lifted the target and dropped it scores below one that succeeded.

The detectors read a `TargetState` snapshot, so they can be checked without physics; `SuccessTracker` keeps the
order of phases across the moves of one trial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.sim.objects import Region
from harness.specs.task import FULL_PROGRESS, MILESTONES, ProgressLevel

LIFT_M = 0.05
REACH_M = 0.04


@dataclass(frozen=True)
class TargetState:
    position: tuple[float, float, float]  # target centre (m, base frame)
    left_contact: bool  # the left finger pad touches the target
    right_contact: bool
    destination: tuple[float, float, float] | None = None  # receptacle frame position
    region: Region | None = None
    rest_z: float = 0.0  # height of the target's frame above its lowest point when it lies on a surface
    ee: tuple[float, float, float] | None = None  # end-effector position (for "reached")

    @property
    def held(self) -> bool:
        return self.left_contact and self.right_contact

    @property
    def released(self) -> bool:
        return not (self.left_contact or self.right_contact)


def inside(state: TargetState) -> bool:
    """The target lies in the destination's region: centre within its radius, bottom between z_min and z_max."""
    if state.destination is None or state.region is None:
        return False
    x, y, z = state.position
    dx, dy, dz = state.destination
    r = state.region
    bottom = z - state.rest_z
    return math.hypot(x - dx, y - dy) <= r.radius and dz + r.z_min <= bottom <= dz + r.z_max


def lifted(state: TargetState, base_z: float) -> bool:
    return state.position[2] - base_z > LIFT_M


def picked_up(state: TargetState, base_z: float) -> bool:
    return lifted(state, base_z) and state.held


def placed(state: TargetState) -> bool:
    return inside(state) and state.released


def over_destination(state: TargetState) -> bool:
    """The target's centre is within the destination region's radius (seen from above)."""
    if state.destination is None or state.region is None:
        return False
    return math.hypot(state.position[0] - state.destination[0],
                      state.position[1] - state.destination[1]) <= state.region.radius


def milestones(state: TargetState, base_z: float) -> set[str]:
    """The rubric milestones (`harness.specs.task.MILESTONES`) this snapshot shows."""
    near = state.ee is not None and math.dist(state.ee, state.position) <= REACH_M
    shown = {
        "reached": near or state.left_contact or state.right_contact,
        "grasped": state.held,
        "lifted": picked_up(state, base_z),
        "carried": picked_up(state, base_z) and over_destination(state),
        "placed": inside(state),
        "released": placed(state),
    }
    return {name for name in MILESTONES if shown[name]}


class SuccessTracker:
    """Follows one trial: `update` after every executed step, `success` at any time."""

    def __init__(self, check: str, rest_z: float):
        if check not in ("pickup", "pick_place", "pick_place_lift"):
            raise ValueError(f"unknown success_check {check!r}; the simulator detects pickup, pick_place, "
                             "pick_place_lift")
        self.check, self.rest_z = check, rest_z
        self.placed_z: float | None = None  # where the target rested when it was first seen placed and released
        self.last: TargetState | None = None
        self.reached: set[str] = set()  # milestones seen at any step of the trial (latched)

    def update(self, state: TargetState) -> None:
        self.last = state
        self.reached |= milestones(state, self.rest_z)
        if self.check == "pick_place_lift" and self.placed_z is None and placed(state):
            self.placed_z = state.position[2]

    @property
    def phase(self) -> str:
        """Where the trial stands, for logs: start / placed / done."""
        return "done" if self.success() else ("placed" if self.placed_z is not None else "start")

    def success(self) -> bool:
        s = self.last
        if s is None:
            return False
        if self.check == "pickup":
            return picked_up(s, self.rest_z)
        if self.check == "pick_place":
            return placed(s)
        return self.placed_z is not None and picked_up(s, self.placed_z)

    def progress(self, rubric: list[ProgressLevel]) -> int | None:
        """Partial success on `rubric`: 100 on success, else the highest lower level reached (0: none); None
        without a rubric."""
        if not rubric:
            return None
        if self.success():
            return FULL_PROGRESS
        return max((lvl.value for lvl in rubric[:-1] if lvl.name in self.reached), default=0)
