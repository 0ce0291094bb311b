"""The merge rule: displacement preserved, limits respected, no sign mixing, gripper changes split steps."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.actions import displacement, merge_deltas
from harness.specs import MergeSpec

spec = MergeSpec()
delta = st.tuples(*(st.floats(-0.02, 0.02, allow_nan=False),) * 3, st.sampled_from([0.0, 1.0]))
episodes = st.lists(delta, min_size=1, max_size=60)


@given(episodes)
@settings(max_examples=300)
def test_total_displacement_is_preserved(deltas):
    steps = merge_deltas(deltas, spec)
    for axis in range(3):
        assert math.isclose(displacement(steps)[axis], sum(d[axis] for d in deltas), abs_tol=1e-9)


@given(episodes)
@settings(max_examples=300)
def test_steps_stop_at_the_limits(deltas):
    """Before its last delta a step is below both limits, so it overshoots by at most one delta."""
    for step in merge_deltas(deltas, spec):
        worst = max(abs(v) for v in step.translation)
        assert worst < spec.axis_limit_cm / 100 + 0.02 + 1e-12
        assert math.dist((0, 0, 0), step.translation) < spec.displacement_limit_cm / 100 + 0.02 * math.sqrt(3) + 1e-9


@given(episodes)
@settings(max_examples=300)
def test_gripper_changes_split_steps(deltas):
    steps = merge_deltas(deltas, spec)
    changes = sum(1 for a, b in zip(deltas, deltas[1:], strict=False) if a[3] != b[3])
    assert len(steps) >= changes + 1
    assert [s.gripper for s in steps][0] == deltas[0][3]


def test_small_deltas_merge_until_axis_limit():
    steps = merge_deltas([[0.005, 0, 0, 1]] * 10, spec)
    assert [round(s.dx, 6) for s in steps] == [0.025, 0.025]


def test_sign_reversal_starts_a_new_step():
    steps = merge_deltas([[0.01, 0, 0, 1], [-0.01, 0, 0, 1]], spec)
    assert [s.dx for s in steps] == [0.01, -0.01]


def test_displacement_limit():
    steps = merge_deltas([[0.02, 0.02, 0.02, 1]] * 2, MergeSpec(axis_limit_cm=10, displacement_limit_cm=5))
    assert len(steps) == 1 and math.isclose(steps[0].dx, 0.04)


def test_bad_rows_are_refused():
    with pytest.raises(ValueError):
        merge_deltas([[0.01, 0.0, 0.0]], spec)
    with pytest.raises(ValueError):
        merge_deltas([[float("nan"), 0.0, 0.0, 1.0]], spec)


def test_jitter_below_the_threshold_does_not_split():
    """Forward 2.2 cm with a 2 mm step back on x and a 1.5 mm wobble on y: one step, not four."""
    deltas = [[0.01, 0.0015, 0, 1], [-0.002, -0.0015, 0, 1], [0.01, 0.0015, 0, 1], [0.004, -0.001, 0, 1]]
    assert spec.reversal_cm == 0.5
    steps = merge_deltas(deltas, spec)
    assert len(steps) == 1 and math.isclose(steps[0].dx, 0.022) and math.isclose(steps[0].dy, 0.0005)


def test_a_real_reversal_splits_at_the_turning_point():
    """Back by 8 mm in small deltas (each under the threshold): the step ends where the arm turned."""
    deltas = [[0.01, 0, 0, 1], [0.01, 0, 0, 1], [-0.003, 0, 0, 1], [-0.003, 0, 0, 1], [-0.002, 0, 0, 1],
              [-0.01, 0, 0, 1]]
    steps = merge_deltas(deltas, spec)
    assert [round(s.dx, 6) for s in steps] == [0.02, -0.018]


def test_the_threshold_is_the_specs():
    deltas = [[0.01, 0, 0, 1], [-0.002, 0, 0, 1], [0.01, 0, 0, 1]]
    assert len(merge_deltas(deltas, MergeSpec(reversal_cm=0.0))) == 3  # every sign change splits
    assert len(merge_deltas(deltas, MergeSpec(reversal_cm=0.1))) == 3
    assert len(merge_deltas(deltas, MergeSpec(reversal_cm=0.2))) == 1  # "exceeds": 2 mm back is not more than 2 mm
    with pytest.raises(ValueError, match="merge.reversal_cm"):
        MergeSpec(reversal_cm=-1.0)


def test_sub_threshold_moves_do_not_set_a_direction():
    """1.5 mm right, then 3 cm left: the wobble before the motion is absorbed, not a step of its own."""
    steps = merge_deltas([[0, -0.0015, 0, 1], [0, 0.01, 0, 1], [0, 0.01, 0, 1]], spec)
    assert len(steps) == 1 and math.isclose(steps[0].dy, 0.0185)
