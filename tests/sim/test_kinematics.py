"""The MJCF arm reproduces the published screw-axis kinematics; the project's IK inverts it or refuses."""

from __future__ import annotations

import numpy as np
import pytest

from harness.robot.backend import MotionCommand
from harness.sim import kinematics as kin
from tests.sim.conftest import scene


def test_home_pose_is_m():
    np.testing.assert_allclose(kin.forward(np.zeros(6)), kin.M_HOME, atol=1e-12)


def test_mjcf_matches_product_of_exponentials():
    import mujoco

    from harness.sim.mjcf import scene_xml

    m = mujoco.MjModel.from_xml_string(scene_xml([]))
    d = mujoco.MjData(m)
    adr = [m.jnt_qposadr[mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)] for j in kin.JOINTS]
    site = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_SITE, "ee")
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.uniform(kin.LOWER, kin.UPPER)
        d.qpos[adr] = q
        mujoco.mj_kinematics(m, d)
        T = kin.forward(q)
        np.testing.assert_allclose(d.site_xpos[site], T[:3, 3], atol=1e-9)
        np.testing.assert_allclose(d.site_xmat[site].reshape(3, 3), T[:3, :3], atol=1e-9)


def test_mjcf_joint_limits_are_the_published_ones():
    import mujoco

    from harness.sim.mjcf import scene_xml

    m = mujoco.MjModel.from_xml_string(scene_xml([]))
    for i, j in enumerate(kin.JOINTS):
        jid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_JOINT, j)
        np.testing.assert_allclose(m.jnt_range[jid], [kin.LOWER[i], kin.UPPER[i]], atol=1e-5)


def _check_round_trip(p) -> bool:
    q = kin.inverse(p)
    if q is None:
        return False
    assert kin.within_limits(q)
    T = kin.forward(q)
    np.testing.assert_allclose(T[:3, 3], p, atol=1e-9)
    np.testing.assert_allclose(T[:3, :3], kin.top_down_rotation(), atol=1e-9)
    return True


def test_ik_round_trip_over_the_tabletop():
    """Everywhere the tasks put objects, up to 20 cm above them, the IK solves exactly."""
    rng = np.random.default_rng(1)
    for p in rng.uniform([0.15, -0.2, 0.005], [0.40, 0.2, 0.20], size=(500, 3)):
        assert _check_round_trip(p), f"IK failed over the tabletop at {p}"


def test_ik_round_trip_over_the_envelope():
    """The envelope's far top corners are beyond a vertical gripper's reach; wherever the IK answers it is exact."""
    rng = np.random.default_rng(2)
    solved = [_check_round_trip(p) for p in rng.uniform([0.10, -0.20, 0.0], [0.45, 0.25, 0.30], size=(500, 3))]
    assert 0.8 < np.mean(solved) < 1.0


@pytest.mark.parametrize("point", [(0.7, 0.0, 0.1), (0.45, 0.25, 0.30), (0.0, 0.0, 0.2), (0.3, 0.0, -0.6),
                                   (float("nan"), 0.0, 0.1)])
def test_ik_refuses_unreachable_points(point):
    assert kin.inverse(point) is None


def test_ik_failure_moves_nothing(backend_for):
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.05)}))
    ee, steps = b.ee_position(), b.steps_executed
    result = b.move(MotionCommand(0.35, 0.0, 0.0))  # 0.65 m forward: beyond reach
    assert (result.executed, result.reason) == (False, "ik_failure") and b.steps_executed == steps
    np.testing.assert_allclose(result.ee_position, ee)
    np.testing.assert_allclose(b.ee_position(), ee)
    # as on the WidowX backend, a step's gripper acts before its motion, so it has acted when IK refuses the motion
    result = b.move(MotionCommand(0.35, 0.0, 0.0, gripper=0.0))
    assert result.reason == "ik_failure" and b.observe().gripper == 0.0
    np.testing.assert_allclose(b.ee_position(), ee, atol=2e-3)
    ok = b.move(MotionCommand(0.02, 0.0, -0.02))  # the next reachable step works from where the arm is
    assert ok.executed
    np.testing.assert_allclose(ok.ee_position, np.array(ee) + [0.02, 0.0, -0.02], atol=2e-3)


def test_moves_track_the_commanded_steps(backend_for):
    b = backend_for("pickup")
    b.reset(scene("pickup", {"carrot": (0.3, 0.12)}))
    start = np.array(b.ee_position())
    rng = np.random.default_rng(2)
    total = np.zeros(3)
    for _ in range(8):
        step = rng.uniform(-0.02, 0.02, 3)
        if not b.move(MotionCommand(*step)).executed:
            continue
        total += step
        np.testing.assert_allclose(b.ee_position(), start + total, atol=2e-3)
