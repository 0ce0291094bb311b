"""The WidowX backend against fakes of both interbotix flavours: the calls made, IK failure, sleep pose on exit."""

from __future__ import annotations

import dataclasses
import math
import sys

import numpy as np
import pytest

from harness.robot.backend import MotionCommand, SceneSetup
from harness.robot.backends import make_backend
from harness.robot.backends.widowx import WidowXBackend, base_to_tsy, interbotix_yaw, load_interbotix
from harness.specs import load_robot
from tests.robot.fakes import FakeCamera, FakeInterbotix, euler_from_matrix_sxyz, euler_matrix_sxyz

ROBOT = load_robot("widowx")
SCENE = SceneSetup("pickup", 0, "pick up the carrot", "en", "carrot")
GRIPPER = {"1": ("gripper.open", "gripper.close"), "2": ("gripper.release", "gripper.grasp")}


@pytest.fixture(params=["1", "2"], ids=["ros1", "ros2"])
def fake(request, monkeypatch):
    return FakeInterbotix(request.param).install(monkeypatch)


def test_auto_detects_the_installed_flavour(fake):
    assert load_interbotix("auto").ros_version == fake.ros_version
    assert load_interbotix(fake.ros_version).ros_version == fake.ros_version
    other = "1" if fake.ros_version == "2" else "2"
    with pytest.raises(RuntimeError, match="Trossen"):
        load_interbotix(other)


def test_trial_calls(fake):
    cam = FakeCamera()
    backend = WidowXBackend(ROBOT, camera=cam)
    with backend:
        obs = backend.reset(SCENE)
        assert obs.ee_position == pytest.approx(tuple(ROBOT.start_ee))
        r1 = backend.move(MotionCommand(0.02, 0.0, -0.03, 0.0))
        r2 = backend.move(MotionCommand(0.0, 0.0, 0.04, 0.0))  # gripper already closed: not commanded again
        r3 = backend.move(MotionCommand(0.0, 0.0, 0.0, 1.0))
    opened, closed = GRIPPER[fake.ros_version]
    names = fake.names()
    expected_start = ["InterbotixManipulatorXS"] + (["robot_startup"] if fake.ros_version == "2" else [])
    assert names[: len(expected_start)] == expected_start
    assert fake.calls[0][1:] == ("wx250s", "arm", "gripper")
    body = names[len(expected_start):]
    assert body == [opened, "go_to_home_pose", "set_ee_pose_components", closed, "set_ee_cartesian_trajectory",
                    "set_ee_cartesian_trajectory", opened, "go_to_home_pose", "go_to_sleep_pose"] + \
        (["robot_shutdown"] if fake.ros_version == "2" else [])
    assert all(r.executed for r in (r1, r2, r3))
    assert r2.ee_position == pytest.approx((0.32, -0.09, 0.27))
    traj = [c for c in fake.calls if c[0] == "set_ee_cartesian_trajectory"]
    assert traj[0][4] == ROBOT.moving_time_s and traj[1][1:4] == pytest.approx((0.0, 0.0, 0.04))
    assert cam.closed and cam.reads == 1


BRIDGE_ROTATION = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]  # Bridge's controller: gripper pointing down (facts.md)


def test_start_pose_points_the_gripper_down_as_bridge(fake):
    """Every Bridge-trained policy learnt from a gripper pointing down; the start pose must command it."""
    with WidowXBackend(ROBOT, camera=FakeCamera()) as backend:
        backend.reset(SCENE)
        commanded = fake.bots[0].arm.get_ee_pose_command()
    call = [c for c in fake.calls if c[0] == "set_ee_pose_components"][0]
    assert call[1:4] == pytest.approx(tuple(ROBOT.start_ee))
    assert call[4:] == pytest.approx((0.0, math.pi / 2, 0.0))  # roll, pitch, yaw
    np.testing.assert_allclose(commanded[:3, :3], BRIDGE_ROTATION, atol=1e-12)
    np.testing.assert_allclose(commanded[:3, 3], ROBOT.start_ee)


STEPS = [(0.03, 0.0, 0.0), (0.0, 0.02, -0.01), (-0.01, -0.03, -0.02), (0.02, 0.01, 0.03), (0.0, -0.02, 0.0)]


def _walk(fake, robot):
    """Runs STEPS from the start pose; returns (landed commanded positions, expected positions)."""
    landed, expected = [], []
    with WidowXBackend(robot, camera=FakeCamera()) as backend:
        backend.reset(SCENE)
        target = np.array(robot.start_ee, dtype=float)
        for step in STEPS:
            assert backend.move(MotionCommand(*step)).executed
            target = target + step
            expected.append(target)
            landed.append(fake.bots[-1].arm.get_ee_pose_command()[:3, 3])
    return np.array(landed), np.array(expected)


def test_steps_land_in_the_base_frame_with_the_gripper_down(fake):
    """At pitch pi/2 the yaw of the encoders' pose matrix is noise; interbotix's move frame stays put (gimbal lock:
    yaw 0), so every base-frame step must land where it says, and the frame's yaw must not drift."""
    arm_yaws = []
    with WidowXBackend(ROBOT, camera=FakeCamera()) as backend:  # the premise: the matrix-derived yaw is garbage
        backend.reset(SCENE)
        for _ in range(6):
            r = backend.bot.arm.get_ee_pose()[:3, :3]
            arm_yaws.append(math.atan2(r[1, 0], r[0, 0]))
    assert max(arm_yaws) - min(arm_yaws) > 0.5
    landed, expected = _walk(fake, ROBOT)
    np.testing.assert_allclose(landed, expected, atol=1e-9)
    assert fake.bots[-1].arm.frames == [0.0] * len(STEPS)


@pytest.mark.parametrize("pitch, yaw", [(math.pi / 2, -0.5), (math.pi / 2 - 1e-6, -0.5), (1.2, 0.3), (0.0, None)],
                         ids=["down-turned", "just-off-lock", "tilted", "horizontal-bearing"])
def test_steps_land_in_the_base_frame_for_any_start_orientation(fake, pitch, yaw):
    """Out of gimbal lock interbotix's frame turns with the commanded yaw; the backend follows it exactly."""
    robot = dataclasses.replace(ROBOT, start_pitch=pitch, start_yaw=yaw)
    landed, expected = _walk(fake, robot)
    np.testing.assert_allclose(landed, expected, atol=1e-9)
    frames = fake.bots[-1].arm.frames
    want = 0.0 if pitch == math.pi / 2 else (math.atan2(-0.09, 0.30) if yaw is None else yaw)
    assert frames == pytest.approx([want] * len(STEPS), abs=1e-9)
    x, y = [c for c in fake.calls if c[0] == "set_ee_cartesian_trajectory"][0][1:3]
    assert (x, y) == pytest.approx(base_to_tsy(0.03, 0.0, want))


def test_interbotix_yaw_matches_tfs_gimbal_lock_branch():
    assert interbotix_yaw(np.eye(4)) == 0.0
    T = np.eye(4)
    T[:3, :3] = euler_matrix_sxyz(0.0, math.pi / 2, -0.7)  # cos(pi/2) = 6e-17: locked, yaw folded into roll
    assert interbotix_yaw(T) == 0.0 and euler_from_matrix_sxyz(T[:3, :3])[2] == 0.0
    T[:3, :3] = euler_matrix_sxyz(0.1, 1.0, -0.7)
    assert interbotix_yaw(T) == pytest.approx(-0.7)


def test_ik_failure_is_no_motion_and_reported(fake):
    backend = WidowXBackend(ROBOT, camera=FakeCamera())
    with backend:
        backend.reset(SCENE)
        before = backend.observe().ee_position
        res = backend.move(MotionCommand(0.30, 0.0, 0.0))  # beyond the fake's reach (the envelope never sends it)
    assert not res.executed and res.reason == "ik_failure" and res.ee_position == pytest.approx(before)


def test_unreachable_start_pose_is_a_clear_error(fake):
    backend = WidowXBackend(ROBOT, camera=FakeCamera())
    with pytest.raises(RuntimeError, match="cannot reach the start pose"), backend:
        fake.bots[0].arm.reach = 0.2  # IK fails for start_ee
        backend.reset(SCENE)
    assert "go_to_sleep_pose" in fake.names()[-2:]


@pytest.mark.parametrize("exc", [RuntimeError("policy crashed"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_sleep_pose_on_error_and_ctrl_c(fake, exc):
    backend = WidowXBackend(ROBOT, camera=FakeCamera())
    with pytest.raises(type(exc)), backend:
        backend.reset(SCENE)
        raise exc
    names = fake.names()
    tail = names[-3:] if fake.ros_version == "2" else names[-2:]
    assert tail[:2] == ["go_to_home_pose", "go_to_sleep_pose"]
    assert backend.bot is None


def test_missing_interbotix_explains_how_to_install(monkeypatch):
    for name in ("interbotix_xs_modules", "interbotix_xs_modules.arm", "interbotix_xs_modules.xs_robot",
                 "interbotix_xs_modules.xs_robot.arm"):
        monkeypatch.setitem(sys.modules, name, None)
    backend = make_backend(ROBOT)
    with pytest.raises(RuntimeError) as info:
        backend.connect()
    msg = str(info.value)
    assert "interbotix_xs_modules" in msg and "not on PyPI" in msg and "--robot sim" in msg
    backend.sleep()  # never connected: a no-op, not a crash
    backend.disconnect()


def test_camera_extra_is_named(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "pyrealsense2", None)
    backend = WidowXBackend(ROBOT)
    with pytest.raises(RuntimeError, match="pip install pyrealsense2"):
        backend.connect()
    from harness.specs.robot import CameraSpec

    monkeypatch.setitem(sys.modules, "cv2", None)
    cv = dataclasses.replace(ROBOT, camera=CameraSpec(kind="opencv"))
    with pytest.raises(RuntimeError, match="opencv-python-headless"):
        WidowXBackend(cv).connect()
    none = dataclasses.replace(ROBOT, camera=CameraSpec(kind="none"))
    with pytest.raises(RuntimeError, match="needs a camera"):
        WidowXBackend(none).connect()
