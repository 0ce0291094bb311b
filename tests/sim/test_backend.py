"""SimBackend: scenes as scheduled, objects at rest, a gripper that really grasps, frames that show the scene."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.robot.backend import MotionCommand
from harness.sim.objects import CATALOGUE
from tests.sim.conftest import scene


def _go(b, goal, gripper=None, max_step=0.04):
    """Straight-line steps of at most `max_step` to `goal` (a test's own scripted motion, no oracle)."""
    delta = np.asarray(goal, float) - b.ee_position()
    n = max(1, math.ceil(np.linalg.norm(delta) / max_step))
    for i in range(n):
        assert b.move(MotionCommand(*(delta / n), gripper=gripper if i == 0 else None)).executed


def test_reset_places_objects_and_arm(backend_for, robot):
    b = backend_for("pick-and-place")
    positions = {"carrot": (0.25, 0.1), "pot": (0.33, -0.08), "corn": (0.38, 0.12)}
    obs = b.reset(scene("pick-and-place", positions, destination="pot", distractors=["corn"]))
    for name, (x, y) in positions.items():
        px, py, _ = obs.extra["objects"][name]["position"]
        assert math.hypot(px - x, py - y) < 2e-3, name
    np.testing.assert_allclose(obs.ee_position, robot.start_ee, atol=3e-3)
    assert obs.gripper == 1.0 and obs.extra["finger_opening_m"] > 0.04
    assert obs.extra["target"] == "carrot" and obs.extra["destination"] == "pot"


def test_a_second_reset_starts_a_new_scene(backend_for):
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.0), "spoon": (0.25, 0.12)}, distractors=["spoon"]))
    b.move(MotionCommand(0.0, 0.0, -0.05, gripper=0.0))
    obs = b.reset(scene("pickup", {"carrot": (0.35, -0.1)}))
    assert set(obs.extra["objects"]) == {"carrot"} and obs.gripper == 1.0
    assert obs.extra["success_phase"] == "start" and b.success() is False


def test_every_object_rests_where_it_is_put(backend_for):
    """Nothing rolls or slides by itself (bodies of revolution lying on their side need rolling friction)."""
    b = backend_for("pickup")
    grid = [(x, y) for x in (0.18, 0.36, 0.54) for y in (-0.32, -0.12, 0.08, 0.28)]
    positions = dict(zip(sorted(CATALOGUE, key=lambda n: n != "carrot"), grid, strict=False))
    assert len(positions) == len(CATALOGUE)
    b.reset(scene("pickup", positions))
    before = {n: np.array(p["position"]) for n, p in b.object_poses().items()}
    b.settle(3.0)
    for n, p in b.object_poses().items():
        assert np.linalg.norm(np.array(p["position"]) - before[n]) < 2e-3, n


def _open_around_the_carrot(backend_for):
    """A pickup scene with the open gripper lowered around the carrot at (0.3, 0.02); (backend, carrot's rest z)."""
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.02)}))
    rest = b.object_poses()["carrot"]["position"][2]
    _go(b, (0.3, 0.02, 0.1), gripper=1.0)
    _go(b, (0.3, 0.02, CATALOGUE["carrot"].grasp_z))
    return b, rest


def test_gripper_grasps_and_holds_through_a_lift(backend_for):
    b, rest = _open_around_the_carrot(backend_for)
    assert b.move(MotionCommand(0, 0, 0, gripper=0.0)).executed
    obs = b.observe()
    assert obs.extra["target_held"] and abs(obs.extra["finger_opening_m"] - 0.025) < 4e-3  # carrot is 2.5 cm thick
    _go(b, (0.3, 0.02, 0.15))
    _go(b, (0.25, -0.08, 0.15))  # carry it sideways too
    b.settle(1.0)
    z = b.object_poses()["carrot"]["position"]
    assert z[2] - rest > 0.12 and math.hypot(z[0] - 0.25, z[1] + 0.08) < 0.01
    assert b.observe().extra["target_held"] and b.success() is True


def test_a_steps_gripper_acts_before_its_motion(backend_for):
    """As on the WidowX backend: "move up, gripper closed" grasps first, then lifts the carrot with it."""
    b, rest = _open_around_the_carrot(backend_for)
    assert b.move(MotionCommand(0.0, 0.0, 0.04, gripper=0.0)).executed
    b.settle(0.5)
    assert b.observe().extra["target_held"]
    assert b.object_poses()["carrot"]["position"][2] - rest > 0.03


def test_an_open_gripper_lifts_nothing(backend_for):
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.02)}))
    rest = b.object_poses()["carrot"]["position"][2]
    _go(b, (0.3, 0.02, CATALOGUE["carrot"].grasp_z), gripper=1.0)
    _go(b, (0.3, 0.02, 0.15))
    assert abs(b.object_poses()["carrot"]["position"][2] - rest) < 3e-3
    assert b.success() is False


def test_closing_on_air_closes_fully(backend_for):
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.1)}))
    b.move(MotionCommand(0, 0, 0, gripper=0.0))
    assert b.observe().extra["finger_opening_m"] < 2e-3


def test_rendered_frame_shows_the_scene():
    """At the spec's resolution the frame is not blank: the black arm and the orange carrot are in it."""
    from harness.sim.backend import SimBackend
    from harness.specs import load_robot, load_task

    robot = load_robot("sim")
    with SimBackend(robot, load_task("pickup")) as b:
        image = b.reset(scene("pickup", {"carrot": (0.3, 0.05)})).image
    assert image.shape == (robot.camera.height, robot.camera.width, 3) and image.dtype == np.uint8
    assert image.std() > 20
    r, g, bl = (image[..., i].astype(int) for i in range(3))
    orange = (r > 180) & (g > 50) & (g < 150) & (bl < 60)
    dark = (r < 40) & (g < 40) & (bl < 40)
    assert orange.sum() > 100, "the carrot is not visible"
    assert dark.sum() > 2000, "the arm is not visible"


@pytest.mark.parametrize("positions, message", [
    ({"carrot": (0.3, 0.0), "teapot": (0.3, 0.1)}, "no object named 'teapot'"),
    ({}, "no position for carrot"),
    ({"carrot": (float("nan"), 0.0)}, "not finite"),
])
def test_bad_scenes_are_named(backend_for, positions, message):
    b = backend_for("pickup")
    with pytest.raises(ValueError, match=message):
        b.reset(scene("pickup", positions))


def test_calls_before_reset_explain(backend_for):
    b = backend_for("pickup")
    with pytest.raises(RuntimeError, match="reset"):
        b.observe()
    with pytest.raises(RuntimeError, match="reset"):
        b.move(MotionCommand(0, 0, 0))
    assert b.success() is None
    b.sleep()  # safe before any scene


def test_unknown_camera_is_named(robot):
    import dataclasses

    from harness.sim.backend import SimBackend
    from harness.specs import CameraSpec, load_task

    bad = dataclasses.replace(robot, camera=CameraSpec(64, 48, "wrist"))
    with pytest.raises(ValueError, match="'camera.device': value 'wrist'"):
        SimBackend(bad, load_task("pickup"))
