"""The paper's merge rule (§6.2): per-step teleoperation deltas become the steps of an action chunk.

Bridge records 5 Hz deltas of a few millimetres; written out one by one they would be near-zero numbers the model
learns to ignore ("without it predicted motions were negligible"). Consecutive deltas are summed into one step until
any axis reaches `axis_limit_cm` or the whole displacement reaches `displacement_limit_cm`. A step never mixes
opposite signs on an axis (the next delta would undo part of it) and never spans a gripper change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.actions.types import ActionChunk, ActionStep, binarize_gripper
from harness.specs.actions import MergeSpec


def merge_deltas(deltas: Sequence[Sequence[float]], spec: MergeSpec | None = None) -> ActionChunk:
    """Merge rows of [dx, dy, dz, gripper] (metres; gripper in [0, 1]) into chunk steps.

    The gripper of a merged step is the (binarized) gripper state during it; a change of state closes the running
    step and starts a new one, so grasp and release are steps of their own.
    """
    spec = spec or MergeSpec()
    axis_limit = spec.axis_limit_cm / 100
    disp_limit = spec.displacement_limit_cm / 100
    eps = spec.sign_eps_cm / 100
    steps: ActionChunk = []
    acc = [0.0, 0.0, 0.0]
    acc_gripper: float | None = None
    count = 0

    def flush() -> None:
        nonlocal acc, count
        if count:
            steps.append(ActionStep(acc[0], acc[1], acc[2], acc_gripper))
        acc, count = [0.0, 0.0, 0.0], 0

    for row in deltas:
        if len(row) < 4:
            raise ValueError(f"each delta is [dx, dy, dz, gripper], got {list(row)!r}")
        d = [float(row[0]), float(row[1]), float(row[2])]
        if not all(math.isfinite(v) for v in d):
            raise ValueError(f"non-finite delta {list(row)!r}")
        g = binarize_gripper(float(row[3]))
        if count:
            reverses = any(abs(a) > eps and abs(v) > eps and (a > 0) != (v > 0) for a, v in zip(acc, d, strict=True))
            if g != acc_gripper or reverses:
                flush()
        acc = [a + v for a, v in zip(acc, d, strict=True)]
        acc_gripper = g
        count += 1
        if max(abs(a) for a in acc) >= axis_limit or math.sqrt(sum(a * a for a in acc)) >= disp_limit:
            flush()
    flush()
    return steps
