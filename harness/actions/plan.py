"""Motion plans: the coarse, direction-only phrase of a chunk ("move left", "move down and slightly forward").

The middle level of the paper's hierarchy: it lets the model reason about direction before it commits to numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.actions.types import ActionStep, binarize_gripper, displacement
from harness.actions.verbalized import AXES
from harness.specs.actions import PlanSpec


def gripper_event(chunk: Sequence[ActionStep], previous: float | None = None) -> str | None:
    """The last gripper change inside the chunk (relative to `previous`, the state before it), if any."""
    event, state = None, binarize_gripper(previous)
    for step in chunk:
        g = binarize_gripper(step.gripper)
        if g is not None and state is not None and g != state:
            event = "open gripper" if g == 1.0 else "close gripper"
        state = g if g is not None else state
    return event


def direction_words(chunk: Sequence[ActionStep], spec: PlanSpec | None = None) -> list[str]:
    """Direction words of the net displacement, largest first; small components are 'slightly ...'."""
    spec = spec or PlanSpec()
    net_cm = [100 * v for v in displacement(chunk)]
    largest = max(abs(v) for v in net_cm)
    words = []
    for axis, pos, neg in sorted(AXES, key=lambda a: -abs(net_cm[a[0]])):
        v = net_cm[axis]
        if abs(v) < spec.min_cm or abs(v) == 0:
            continue
        word = pos if v > 0 else neg
        words.append(f"slightly {word}" if abs(v) < spec.slight_ratio * largest else word)
    return words


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def motion_plan(chunk: Sequence[ActionStep], spec: PlanSpec | None = None, previous_gripper: float | None = None) -> str:
    """E.g. 'move down and slightly forward', 'move left, then close gripper', 'close gripper', 'stay'."""
    if not chunk:
        raise ValueError("cannot describe an empty chunk")
    words = direction_words(chunk, spec)
    event = gripper_event(chunk, previous_gripper)
    move = f"move {_join(words)}" if words else ""
    if move and event:
        return f"{move}, then {event}"
    return move or event or "stay"


def plan_is_consistent(plan: str, chunk: Sequence[ActionStep], spec: PlanSpec | None = None) -> bool:
    """Whether `plan` names each direction the chunk moves in (used to check annotators)."""
    words = direction_words(chunk, spec)
    return all(w.split()[-1] in plan for w in words)
