"""Action steps and chunks in the BridgeData V2 convention, and the one error every codec raises.

Translation in metres (+x forward, +y left, +z up); gripper 1.0 = open, 0.0 = closed, None = leave as it is.
VLM2VLA controls translation and gripper only (its text codecs never write rotation); the OpenVLA / ECoT baselines
also predict an end-effector rotation delta (droll, dpitch, dyaw in radians, Bridge's convention), carried in
`rotation` so that they execute what they predict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


class ActionParseError(ValueError):
    """Model text that is not a valid action chunk. Says where (character offset) and why; never a silent zero."""

    def __init__(self, text: str, position: int, reason: str):
        self.text, self.position, self.reason = text, position, reason
        snippet = text[max(0, position - 20) : position + 20].replace("\n", "\\n")
        super().__init__(f"cannot parse action text at character {position}: {reason} (near {snippet!r})")


@dataclass(frozen=True)
class ActionStep:
    dx: float = 0.0
    dy: float = 0.0
    dz: float = 0.0
    gripper: float | None = None
    rotation: tuple[float, float, float] | None = None  # droll, dpitch, dyaw (rad); None = no rotation (VLM2VLA)

    def __post_init__(self) -> None:
        for axis in ("dx", "dy", "dz"):
            if not math.isfinite(getattr(self, axis)):
                raise ValueError(f"ActionStep.{axis} must be finite, got {getattr(self, axis)!r}")
        if self.rotation is not None and (len(self.rotation) != 3 or not all(map(math.isfinite, self.rotation))):
            raise ValueError(f"ActionStep.rotation must be 3 finite angles (rad) or None, got {self.rotation!r}")
        if self.gripper is not None and not (0.0 <= self.gripper <= 1.0):
            raise ValueError(f"ActionStep.gripper must be in [0, 1] or None, got {self.gripper!r}")

    @property
    def translation(self) -> tuple[float, float, float]:
        return (self.dx, self.dy, self.dz)

    def to_list(self) -> list[float | None]:
        return [self.dx, self.dy, self.dz, self.gripper]

    @classmethod
    def from_list(cls, values: Sequence[float | None]) -> ActionStep:
        """[dx, dy, dz] or [dx, dy, dz, gripper] in metres."""
        if len(values) not in (3, 4):
            raise ValueError(f"an action step is [dx, dy, dz] or [dx, dy, dz, gripper], got {list(values)!r}")
        g = values[3] if len(values) == 4 else None
        return cls(float(values[0]), float(values[1]), float(values[2]), None if g is None else float(g))


ActionChunk = list[ActionStep]


def chunk_from_lists(rows: Sequence[Sequence[float | None]]) -> ActionChunk:
    return [ActionStep.from_list(r) for r in rows]


def chunk_to_lists(chunk: Sequence[ActionStep]) -> list[list[float | None]]:
    return [s.to_list() for s in chunk]


def displacement(chunk: Sequence[ActionStep]) -> tuple[float, float, float]:
    """Net translation of a chunk in metres."""
    return (sum(s.dx for s in chunk), sum(s.dy for s in chunk), sum(s.dz for s in chunk))


GRIPPER_OPEN_AT = 0.5  # a gripper value at or above this is open (1), below it closed (0)


def binarize_gripper(g: float | None) -> float | None:
    """1.0 (open) or 0.0 (closed) for a continuous gripper value; None (no gripper change) stays None. The one
    threshold for decoders, backends and datasets (Bridge's reader decides in-between values its own way first)."""
    return None if g is None else (1.0 if g >= GRIPPER_OPEN_AT else 0.0)


BRIDGE_ACTION_DIM = 7  # dx, dy, dz, droll, dpitch, dyaw, gripper: what OpenVLA / ECoT predict per step


def bridge_step(action: Sequence[float]) -> ActionStep:
    """A 7-DoF Bridge action (dx, dy, dz, droll, dpitch, dyaw, gripper) as the one step a baseline executes:
    translation, rotation and the binarized gripper, as in OpenVLA's own Bridge evaluation."""
    a = [float(v) for v in action]
    if len(a) != BRIDGE_ACTION_DIM:
        raise ValueError(f"a Bridge action has {BRIDGE_ACTION_DIM} values (dx, dy, dz, droll, dpitch, dyaw, "
                         f"gripper), got {len(a)}: {a!r}")
    return ActionStep(a[0], a[1], a[2], gripper=binarize_gripper(a[6]), rotation=(a[3], a[4], a[5]))


def to_units(metres: float, resolution_cm: float) -> int:
    """Metres -> integer count of `resolution_cm`, rounding half away from zero (exact decimal arithmetic)."""
    cm = Decimal(repr(metres)) * 100
    return int((cm / Decimal(repr(resolution_cm))).to_integral_value(rounding=ROUND_HALF_UP))


def from_units(units: int, resolution_cm: float) -> float:
    """Integer count of `resolution_cm` -> metres. The same float a decimal literal of that value parses to."""
    return float(Decimal(units) * Decimal(repr(resolution_cm)) / 100)


def quantize(chunk: Sequence[ActionStep], resolution_cm: float) -> ActionChunk:
    """What a chunk becomes after encoding at `resolution_cm`: grid translations, binary gripper."""
    return [
        ActionStep(*(from_units(to_units(v, resolution_cm), resolution_cm) for v in s.translation),
                   gripper=binarize_gripper(s.gripper))
        for s in chunk
    ]


def fill_gripper(chunk: Sequence[ActionStep], initial: float | None = None) -> ActionChunk:
    """Make the gripper explicit on every step where it is known (a step without one keeps the previous state)."""
    out, g = [], initial
    for s in chunk:
        g = s.gripper if s.gripper is not None else g
        out.append(ActionStep(s.dx, s.dy, s.dz, g))
    return out
