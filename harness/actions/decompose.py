"""The paper's merge rule (§6.2): per-step teleoperation deltas become the steps of an action chunk.

Bridge records 5 Hz deltas of a few millimetres; written out one by one they would be near-zero numbers the model
learns to ignore ("without it predicted motions were negligible"). Consecutive deltas are summed into one step until
any axis reaches `axis_limit_cm` or the whole displacement reaches `displacement_limit_cm`. A step never spans a
gripper change, and it does not reverse direction on an axis (the next delta would undo part of it) -- but only
reversals larger than `reversal_cm` count: teleoperation and state sensing wobble by a millimetre or two, and
splitting on every such sign change cut one motion into many sub-centimetre steps ("move forward 0.1 cm, move right
0.1 cm, move up 0.9 cm; ...") that overflowed the decoder's step budget.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.actions.types import ActionChunk, ActionStep, binarize_gripper
from harness.specs.actions import MergeSpec

_Row = tuple[float, float, float, float | None]


def _rows(deltas: Sequence[Sequence[float]]) -> list[_Row]:
    rows = []
    for row in deltas:
        if len(row) < 4:
            raise ValueError(f"each delta is [dx, dy, dz, gripper], got {list(row)!r}")
        d = (float(row[0]), float(row[1]), float(row[2]))
        if not all(math.isfinite(v) for v in d):
            raise ValueError(f"non-finite delta {list(row)!r}")
        rows.append((*d, binarize_gripper(float(row[3]))))
    return rows


def _step_end(rows: Sequence[_Row], start: int, axis_limit: float, disp_limit: float, reversal: float) -> int:
    """One past the last delta of the step that starts at `start`.

    Per axis, the step's direction is set once the axis has moved more than `reversal` from the step's start; from
    then on the furthest point reached in that direction is its peak. Moving back from the peak by more than
    `reversal` is a real reversal: the step ends at the peak, so the way back starts the next step. Smaller
    excursions either way stay inside the step.
    """
    acc = [0.0, 0.0, 0.0]
    direction = [0, 0, 0]  # +1 / -1 once set
    peak = [0.0, 0.0, 0.0]
    peak_end = [start, start, start]  # one past the delta that reached the peak
    gripper = rows[start][3]
    for t in range(start, len(rows)):
        if t > start and rows[t][3] != gripper:
            return t
        reversed_at: list[int] = []
        for a in range(3):
            acc[a] += rows[t][a]
            if direction[a] == 0:
                if abs(acc[a]) > reversal:
                    direction[a], peak[a], peak_end[a] = (1 if acc[a] > 0 else -1), acc[a], t + 1
            elif direction[a] * (acc[a] - peak[a]) >= 0:
                peak[a], peak_end[a] = acc[a], t + 1
            elif direction[a] * (peak[a] - acc[a]) > reversal:
                reversed_at.append(peak_end[a])
        if reversed_at:
            return min(reversed_at)
        if max(abs(a) for a in acc) >= axis_limit or math.sqrt(sum(a * a for a in acc)) >= disp_limit:
            return t + 1
    return len(rows)


def merge_deltas(deltas: Sequence[Sequence[float]], spec: MergeSpec | None = None) -> ActionChunk:
    """Merge rows of [dx, dy, dz, gripper] (metres; gripper in [0, 1]) into chunk steps.

    Every delta lands in exactly one step, so the steps add up to the rows. The gripper of a merged step is the
    (binarized) gripper state during it; a change of state closes the running step and starts a new one, so grasp
    and release are steps of their own.
    """
    spec = spec or MergeSpec()
    rows = _rows(deltas)
    limits = (spec.axis_limit_cm / 100, spec.displacement_limit_cm / 100, spec.reversal_cm / 100)
    steps: ActionChunk = []
    start = 0
    while start < len(rows):
        end = _step_end(rows, start, *limits)
        part = rows[start:end]
        steps.append(ActionStep(sum(r[0] for r in part), sum(r[1] for r in part), sum(r[2] for r in part),
                                rows[start][3]))
        start = end
    return steps
