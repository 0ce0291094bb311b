"""Success detectors: positive and negative cases, and the order of phases in pick-place-lift."""

from __future__ import annotations

import pytest

from harness.robot.backend import MotionCommand
from harness.sim.objects import CATALOGUE
from harness.sim.success import SuccessTracker, TargetState, inside, picked_up, placed
from tests.sim.conftest import scene
from tests.sim.test_backend import _go

POT = CATALOGUE["pot"].region
PLATE = CATALOGUE["plate"].region


def state(x=0.3, y=0.0, z=0.0125, left=False, right=False, dest=(0.3, 0.0, 0.0), region=POT):
    """The carrot (frame 1.25 cm above its lowest point)."""
    return TargetState((x, y, z), left, right, dest, region, rest_z=0.0125)


def test_pickup_needs_height_and_both_fingers():
    rest = 0.0125
    assert picked_up(state(z=rest + 0.06, left=True, right=True), rest)
    assert not picked_up(state(z=rest + 0.04, left=True, right=True), rest)  # only 4 cm up
    assert not picked_up(state(z=rest + 0.10, left=True), rest)  # resting on one finger is not held
    assert not picked_up(state(z=rest + 0.10), rest)  # e.g. thrown, or lying on a taller object


def test_inside_the_region():
    assert inside(state(x=0.3 + POT.radius - 0.001, z=0.02))
    assert not inside(state(x=0.3 + POT.radius + 0.001, z=0.02))  # outside the rim
    assert not inside(state(z=0.0125 + POT.z_max + 0.01))  # hovering above the pot
    assert not inside(state(dest=None, region=None))
    assert inside(state(z=0.021, dest=(0.3, 0.0, 0.0), region=PLATE))  # lying on the plate (top at 8 mm)
    assert not inside(state(z=0.0125, dest=(0.3, 0.0, 0.0), region=PLATE))  # under the plate's top: beside it


def test_placed_needs_release():
    assert placed(state(z=0.02))
    assert not placed(state(z=0.02, left=True))
    assert not placed(state(z=0.02, right=True))


def test_pick_place_lift_in_order():
    t = SuccessTracker("pick_place_lift", rest_z=0.0125)
    t.update(state(z=0.1, left=True, right=True, region=PLATE))  # lifted first: not the task
    assert not t.success() and t.phase == "start"
    t.update(state(z=0.021, left=True, right=True, region=PLATE))  # on the plate but still held: not placed
    assert t.phase == "start"
    t.update(state(z=0.021, region=PLATE))  # released on the plate
    assert t.phase == "placed" and not t.success()
    t.update(state(z=0.061, left=True, right=True, region=PLATE))  # 4 cm above where it was placed
    assert not t.success()
    t.update(state(z=0.081, left=True, right=True, region=PLATE))
    assert t.success() and t.phase == "done"
    t.update(state(z=0.081, region=PLATE))  # dropped again afterwards: no longer held
    assert not t.success()


def test_unknown_check_is_named():
    with pytest.raises(ValueError, match="unknown success_check 'stack'"):
        SuccessTracker("stack", 0.0)


@pytest.mark.parametrize("task, destination", [("pickup", None), ("pick-and-place", "pot"),
                                               ("pick-place-lift", "plate")])
def test_doing_nothing_fails(backend_for, task, destination):
    b = backend_for(task)
    positions = {"carrot": (0.25, 0.08)} | ({destination: (0.33, -0.08)} if destination else {})
    b.reset(scene(task, positions, destination=destination))
    b.move(MotionCommand(0.0, 0.0, -0.05))
    assert b.success() is False


def test_pick_and_place_held_over_the_pot_is_not_placed(backend_for):
    b = backend_for("pick-and-place")
    b.reset(scene("pick-and-place", {"carrot": (0.25, 0.08), "pot": (0.33, -0.08)}, destination="pot"))
    _go(b, (0.25, 0.08, 0.1), gripper=1.0)
    _go(b, (0.25, 0.08, CATALOGUE["carrot"].grasp_z))
    b.move(MotionCommand(0, 0, 0, gripper=0.0))
    _go(b, (0.25, 0.08, 0.15))
    _go(b, (0.33, -0.08, 0.15))
    _go(b, (0.33, -0.08, 0.04))  # the carrot is in the pot, still between the fingers
    assert b.success() is False
    b.move(MotionCommand(0, 0, 0, gripper=1.0))
    b.move(MotionCommand(0, 0, 0.05))
    assert b.success() is True


def test_progress_on_the_rubric_is_the_highest_milestone_reached():
    from harness.specs import load_task

    rubric = load_task("pick-and-place").progress  # grasped 25, carried 50, placed 75, released 100
    t = SuccessTracker("pick_place", rest_z=0.0125)
    assert t.progress([]) is None  # a task without a rubric has no progress
    t.update(state(x=0.2, dest=(0.3, 0.0, 0.0)))
    assert t.progress(rubric) == 0
    t.update(state(x=0.2, left=True, right=True))  # held at rest
    assert t.progress(rubric) == 25
    t.update(state(x=0.3, z=0.0125 + 0.1, left=True, right=True))  # held high over the pot
    assert t.progress(rubric) == 50
    t.update(state(x=0.3, z=0.02, left=True, right=True))  # in the pot, still held: placed, not released
    assert t.progress(rubric) == 75 and not t.success()
    t.update(state(x=0.2, z=0.0125))  # pulled back out and dropped beside it: the milestones stay latched
    assert t.progress(rubric) == 75
    t.update(state(x=0.3, z=0.02))  # in the pot and let go: the task's success is its top level
    assert t.success() and t.progress(rubric) == 100


def test_reached_is_the_gripper_near_the_target_and_a_drop_scores_below_success():
    from harness.specs import load_task

    rubric = load_task("pickup").progress  # reached 25, grasped 50, lifted 100
    t = SuccessTracker("pickup", rest_z=0.0125)
    t.update(TargetState((0.3, 0.0, 0.0125), False, False, ee=(0.3, 0.0, 0.10)))  # 9 cm above: not yet
    assert t.progress(rubric) == 0
    t.update(TargetState((0.3, 0.0, 0.0125), False, False, ee=(0.3, 0.0, 0.045)))
    assert t.progress(rubric) == 25
    t.update(TargetState((0.3, 0.0, 0.0125 + 0.08), True, True, ee=(0.3, 0.0, 0.1)))  # lifted: success
    assert t.progress(rubric) == 100
    t.update(TargetState((0.3, 0.0, 0.0125), False, False, ee=(0.3, 0.0, 0.1)))  # dropped by the end
    assert not t.success() and t.progress(rubric) == 50  # "lifted" is the top level: only a success scores it
