"""Motion plans: the coarse, direction-only phrase of a chunk ("move left", "move down and slightly forward").

The middle level of the paper's hierarchy: it lets the model reason about direction before it commits to numbers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.actions.types import ActionStep, binarize_gripper, displacement
from harness.actions.verbalized import _DIRECTION_WORDS, AXES
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


_NAMED_DIRECTION = re.compile(rf"\b({'|'.join(sorted(_DIRECTION_WORDS, key=len, reverse=True))})\b")
_NAMED_EVENT = re.compile(r"\b(open|close)\w*\s+(?:the\s+)?gripper\b")


def named_directions(plan: str) -> set[str]:
    """The canonical direction words a free-form plan names ('back' -> 'backward', 'downwards' -> 'down')."""
    words = set()
    for word in _NAMED_DIRECTION.findall(plan.lower()):
        axis, sign = _DIRECTION_WORDS[word]
        words.add(AXES[axis][1] if sign > 0 else AXES[axis][2])
    return words


def named_gripper_events(plan: str) -> set[str]:
    return {f"{op} gripper" for op in _NAMED_EVENT.findall(plan.lower())}


def plan_disagreement(plan: str, chunk: Sequence[ActionStep], spec: PlanSpec | None = None,
                      previous_gripper: float | None = None) -> str:
    """'' when a free-form plan (e.g. Gemini's) agrees with the chunk, else why not. Agreeing: it names every
    dominant direction of the chunk (the words `direction_words` does not call 'slightly'), no direction the chunk
    does not move in, and no gripper action other than the chunk's. Slight components may go unmentioned."""
    words = direction_words(chunk, spec) if chunk else []
    dominant = {w for w in words if not w.startswith("slightly ")}
    moving = {w.split()[-1] for w in words}
    named = named_directions(plan)
    if missing := dominant - named:
        return f"plan {plan!r} does not say {' or '.join(sorted(missing))}; the chunk moves {_join(words)}"
    if wrong := named - moving:
        return (f"plan {plan!r} says {' and '.join(sorted(wrong))}; the chunk moves "
                f"{_join(words) if words else 'less than the plan threshold'}")
    event = gripper_event(chunk, previous_gripper)
    if (events := named_gripper_events(plan)) and events != {event}:
        return f"plan {plan!r} says {' and '.join(sorted(events))}; the step does {event or 'no gripper action'}"
    return ""
