"""The VLM2VLA action language: an action chunk as plain text, and back.

Canonical form, one step per `; `-separated clause, axes in a fixed order, zero axes omitted:

    move forward 4.2 cm, move left 1.0 cm, move down 3.5 cm, close gripper; move up 5.0 cm

The gripper phrase appears on the first step and wherever the gripper changes; a step without one leaves the
gripper as it is. A step with neither motion nor gripper change is `stay`. Encoding then decoding is exact at the
codec's resolution (0.1 cm). The parser accepts what a language model plausibly writes (case, spacing, cm/mm/
centimeters, back/backward, any axis order, "by", a trailing period, one step per line, numbered or bulleted steps)
and raises `ActionParseError` for anything else. Numbers are ASCII digits only: a Unicode digit class would also
take full-width ("４.２") or mathematical ("𝟒") digits, which no canonical text contains; they are refused, not
normalised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from harness.actions.types import (
    ActionChunk,
    ActionParseError,
    ActionStep,
    binarize_gripper,
    from_units,
    to_units,
)

# (axis index, positive word, negative word) in canonical order.
AXES = ((0, "forward", "backward"), (1, "left", "right"), (2, "up", "down"))
_DIRECTION_WORDS = {
    "forward": (0, 1), "forwards": (0, 1), "back": (0, -1), "backward": (0, -1), "backwards": (0, -1),
    "left": (1, 1), "right": (1, -1), "up": (2, 1), "upward": (2, 1), "upwards": (2, 1),
    "down": (2, -1), "downward": (2, -1), "downwards": (2, -1),
}
_UNITS_PER_CM = {
    "cm": Decimal(1), "centimeter": Decimal(1), "centimeters": Decimal(1), "centimetre": Decimal(1),
    "centimetres": Decimal(1), "mm": Decimal("0.1"), "millimeter": Decimal("0.1"), "millimeters": Decimal("0.1"),
    "millimetre": Decimal("0.1"), "millimetres": Decimal("0.1"),
}
MAX_CM = Decimal(1000)  # larger numbers are not a plausible end-effector step; refuse rather than guess

_DIR = "|".join(sorted(_DIRECTION_WORDS, key=len, reverse=True))
_UNIT = "|".join(sorted(_UNITS_PER_CM, key=len, reverse=True))
_NUM = r"\+?[0-9]+(?:\.[0-9]+)?"  # ASCII digits only (the module doc says why)
_MOVE_DIR_FIRST = re.compile(rf"^(?:move\s+)?(?P<dir>{_DIR})\s+(?:by\s+)?(?P<num>{_NUM})\s*(?P<unit>{_UNIT})$")
_MOVE_NUM_FIRST = re.compile(rf"^(?:move\s+)?(?:by\s+)?(?P<num>{_NUM})\s*(?P<unit>{_UNIT})\s+(?P<dir>{_DIR})$")
_GRIPPER = re.compile(r"^(?P<op>open|close)\s+(?:the\s+)?gripper$|^gripper\s+(?P<op2>open|close)$")
_STAY = re.compile(r"^(?:stay|hold|stop|no movement|do nothing)$")
# A list marker must not swallow the start of a number ("4.2 cm forward") or a sign ("-4.2 cm ...").
_STEP_MARKER = re.compile(r"^\s*(?:step\s*[0-9]+\s*[:.)-]?\s+|[0-9]+\s*[.):](?![0-9])\s*|[-*\u2022]\s+)", re.IGNORECASE)
_STEP_SPLIT = re.compile(r"[;\n]")
_PHRASE_SPLIT = re.compile(r",|\band\b|\bthen\b")


class VerbalizedCodec:
    """Action chunk <-> text. `resolution_cm` is the grid numbers are written on (0.1 cm in the paper's setting)."""

    name = "verbalized"

    def __init__(self, resolution_cm: float = 0.1):
        self.resolution_cm = resolution_cm
        self._decimals = max(0, -Decimal(repr(resolution_cm)).as_tuple().exponent)

    # ------------------------------------------------------------------ encode
    def _number(self, units: int) -> str:
        value = Decimal(abs(units)) * Decimal(repr(self.resolution_cm))
        return f"{value:.{max(self._decimals, 1)}f}"

    def encode_step(self, step: ActionStep, state_gripper: float | None) -> str:
        phrases = []
        for axis, pos, neg in AXES:
            units = to_units(step.translation[axis], self.resolution_cm)
            if units:
                phrases.append(f"move {pos if units > 0 else neg} {self._number(units)} cm")
        g = binarize_gripper(step.gripper)
        if g is not None and g != state_gripper:
            phrases.append("open gripper" if g == 1.0 else "close gripper")
        return ", ".join(phrases) if phrases else "stay"

    def encode(self, chunk: Sequence[ActionStep]) -> str:
        if not chunk:
            raise ValueError("cannot encode an empty action chunk")
        parts, state = [], None
        for step in chunk:
            parts.append(self.encode_step(step, state))
            state = binarize_gripper(step.gripper) if step.gripper is not None else state
        return "; ".join(parts)

    # ------------------------------------------------------------------ decode
    def decode(self, text: str) -> ActionChunk:
        if not isinstance(text, str):
            raise ActionParseError(repr(text), 0, f"expected a string, got {type(text).__name__}")
        body = text.rstrip()
        while body.endswith((".", "!")):
            body = body[:-1].rstrip()
        steps: ActionChunk = []
        gripper: float | None = None
        start = 0
        for match in list(_STEP_SPLIT.finditer(body)) + [None]:
            end = match.start() if match else len(body)
            segment = body[start:end]
            offset = start
            start = match.end() if match else len(body)
            marker = _STEP_MARKER.match(segment)
            if marker and marker.end() > 0:
                offset += marker.end()
                segment = segment[marker.end():]
            if not segment.strip():
                continue  # blank line or trailing separator
            step = self._decode_step(text, segment, offset, gripper)
            gripper = step.gripper
            steps.append(step)
        if not steps:
            raise ActionParseError(text, 0, "no action found")
        return steps

    def _decode_step(self, text: str, segment: str, offset: int, gripper: float | None) -> ActionStep:
        cm: list[Decimal | None] = [None, None, None]
        new_gripper: float | None = None
        saw_stay = False
        start = 0
        for match in list(_PHRASE_SPLIT.finditer(segment)) + [None]:
            end = match.start() if match else len(segment)
            raw = segment[start:end]
            pos = offset + start + (len(raw) - len(raw.lstrip()))
            start = match.end() if match else len(segment)
            phrase = " ".join(raw.lower().split())
            if not phrase:
                raise ActionParseError(text, pos, "empty phrase between separators")
            m = _MOVE_DIR_FIRST.match(phrase) or _MOVE_NUM_FIRST.match(phrase)
            if m:
                axis, sign = _DIRECTION_WORDS[m["dir"]]
                if cm[axis] is not None:
                    raise ActionParseError(text, pos, f"the {AXES[axis][1]}/{AXES[axis][2]} axis is given twice")
                try:
                    value = Decimal(m["num"]) * _UNITS_PER_CM[m["unit"]]
                except InvalidOperation as e:  # pragma: no cover - the regex admits only decimal literals
                    raise ActionParseError(text, pos, f"bad number {m['num']!r}") from e
                if value > MAX_CM:
                    raise ActionParseError(text, pos, f"{value} cm is larger than any step ({MAX_CM} cm)")
                cm[axis] = sign * value
                continue
            m = _GRIPPER.match(phrase)
            if m:
                g = 1.0 if (m["op"] or m["op2"]) == "open" else 0.0
                if new_gripper is not None and new_gripper != g:
                    raise ActionParseError(text, pos, "the gripper is both opened and closed in one step")
                new_gripper = g
                continue
            if _STAY.match(phrase):
                saw_stay = True
                continue
            raise ActionParseError(
                text, pos, f"unrecognised phrase {phrase!r}; expected 'move <direction> <number> cm', "
                "'open gripper', 'close gripper' or 'stay'")
        if saw_stay and (any(v is not None for v in cm) or new_gripper is not None):
            raise ActionParseError(text, offset, "'stay' combined with a motion in one step")
        metres = [0.0 if v is None else float(v / 100) for v in cm]
        if not all(math.isfinite(v) for v in metres):  # pragma: no cover - bounded by MAX_CM
            raise ActionParseError(text, offset, "non-finite value")
        return ActionStep(*metres, gripper=new_gripper if new_gripper is not None else gripper)

    def round_trip_units(self, metres: float) -> float:
        """The value `metres` decodes to after encoding (for tests and callers that need the grid value)."""
        return from_units(to_units(metres, self.resolution_cm), self.resolution_cm)
