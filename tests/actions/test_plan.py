from __future__ import annotations

import pytest

from harness.actions import ActionStep, motion_plan
from harness.specs import PlanSpec


@pytest.mark.parametrize(
    "chunk, previous, expected",
    [
        ([ActionStep(0, 0.03, 0)], None, "move left"),
        ([ActionStep(0.01, 0, -0.04)], None, "move down and slightly forward"),
        ([ActionStep(0.03, -0.03, 0.001)], None, "move forward and right"),
        ([ActionStep(0, 0, -0.02, 1.0), ActionStep(0, 0, 0, 0.0)], None, "move down, then close gripper"),
        ([ActionStep(0, 0, 0, 0.0)], 1.0, "close gripper"),
        ([ActionStep(0, 0, 0, 0.0)], 0.0, "stay"),
        ([ActionStep(0.002, 0, 0)], None, "stay"),
    ],
)
def test_plans(chunk, previous, expected):
    assert motion_plan(chunk, PlanSpec(), previous) == expected


def test_empty_chunk_refused():
    with pytest.raises(ValueError):
        motion_plan([])
