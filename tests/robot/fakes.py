"""Fakes for the robot tests: both flavours of the interbotix API, a recording backend, a text-replaying policy.

The interbotix fakes mimic the published signatures (ROS 1 `interbotix_xs_modules.arm`, ROS 2
`interbotix_xs_modules.xs_robot.arm` + `interbotix_common_modules.common_robot.robot`) and record every call, so
tests check which calls the backend makes, in which order, with which values.
"""

from __future__ import annotations

import math
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from harness.actions import ActionParseError, make_codec
from harness.policy.base import CycleOutput, Decision, Observation, Policy
from harness.robot.backend import MotionCommand, MotionResult, RobotBackend, SceneSetup
from harness.specs import load_actions

HOME = (0.458325, 0.0, 0.36065)  # wx250s home end-effector position (facts.md)


def euler_matrix_sxyz(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """tf.transformations.euler_matrix(roll, pitch, yaw, axes="sxyz")[:3, :3], which interbotix uses for poses."""
    si, sj, sk = math.sin(roll), math.sin(pitch), math.sin(yaw)
    ci, cj, ck = math.cos(roll), math.cos(pitch), math.cos(yaw)
    cc, cs, sc, ss = ci * ck, ci * sk, si * ck, si * sk
    return np.array([[cj * ck, sj * sc - cs, sj * cc + ss],
                     [cj * sk, sj * ss + cc, sj * cs - sc],
                     [-sj, cj * si, cj * ci]])


def euler_from_matrix_sxyz(R: np.ndarray) -> list[float]:
    """tf.transformations.euler_from_matrix(R, axes="sxyz"): in gimbal lock (cos(pitch) <= 4 eps) yaw is 0."""
    cy = math.sqrt(R[0, 0] * R[0, 0] + R[1, 0] * R[1, 0])
    if cy > 4.0 * np.finfo(float).eps:
        return [math.atan2(R[2, 1], R[2, 2]), math.atan2(-R[2, 0], cy), math.atan2(R[1, 0], R[0, 0])]
    return [math.atan2(-R[1, 2], R[1, 1]), math.atan2(-R[2, 0], cy), 0.0]


class FakeArm:
    """interbotix's arm interface, kinematics reduced to a reach limit.

    Keeps the commanded pose `T_sb` as interbotix does: `set_ee_pose_components` builds it from sxyz Euler angles
    (yaw None = the bearing of (x, y), as for a 6-dof arm) and `set_ee_cartesian_trajectory` moves relative to it in
    `T_sy`, whose yaw is the sxyz Euler yaw of `T_sb` (0 in gimbal lock), keeping roll and pitch. `get_ee_pose()` is
    the *actual* pose (forward kinematics of the encoders): the command turned by `noise_rad` about a random axis,
    so a yaw read from it at pitch ~ pi/2 is as arbitrary as on the real arm. `frames` records each move's T_sy yaw.
    """

    def __init__(self, calls: list, reach: float = 0.55, noise_rad: float = 2e-3, seed: int = 0):
        self.calls, self.reach, self.noise_rad = calls, reach, noise_rad
        self.rng = np.random.default_rng(seed)
        self.T_sb = np.eye(4)
        self.T_sb[:3, 3] = HOME
        self.frames: list[float] = []

    def go_to_home_pose(self, moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("go_to_home_pose",))
        self.T_sb = np.eye(4)  # all joints 0: interbotix recomputes T_sb by forward kinematics = M
        self.T_sb[:3, 3] = HOME

    def go_to_sleep_pose(self, moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("go_to_sleep_pose",))

    def set_ee_pose_components(self, x=0, y=0, z=0, roll=0, pitch=0, yaw=None, custom_guess=None, execute=True,
                               moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("set_ee_pose_components", x, y, z, roll, pitch, yaw))
        if yaw is None:
            yaw = math.atan2(y, x)
        if math.hypot(x, y) > self.reach:
            return [0.0] * 6, False  # no valid pose: interbotix does not move
        T_sd = np.eye(4)
        T_sd[:3, :3] = euler_matrix_sxyz(roll, pitch, yaw)
        T_sd[:3, 3] = (x, y, z)
        if execute:
            self.T_sb = T_sd
        return [0.0] * 6, True

    def set_ee_cartesian_trajectory(self, x=0, y=0, z=0, roll=0, pitch=0, yaw=0, moving_time=None,
                                    wp_moving_time=0.2, wp_accel_time=0.1, wp_period=0.05):
        self.calls.append(("set_ee_cartesian_trajectory", x, y, z, moving_time))
        rpy = euler_from_matrix_sxyz(self.T_sb[:3, :3])
        T_sy = np.eye(4)
        T_sy[:3, :3] = euler_matrix_sxyz(0.0, 0.0, rpy[2])
        T_yb = np.linalg.inv(T_sy) @ self.T_sb
        self.frames.append(rpy[2])
        T_yb[:3, 3] += (x, y, z)  # the final waypoint; the path is straight, so reach is checked at its end
        T_yb[:3, :3] = euler_matrix_sxyz(rpy[0] + roll, rpy[1] + pitch, yaw)
        T_sd = T_sy @ T_yb
        if math.hypot(T_sd[0, 3], T_sd[1, 3]) > self.reach:
            return False  # not plannable: interbotix does not move and returns False
        self.T_sb = T_sd
        return True

    def get_ee_pose_command(self):
        return self.T_sb.copy()

    def get_ee_pose(self):
        axis = self.rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        t = self.noise_rad
        noise = np.eye(3) + math.sin(t) * k + (1 - math.cos(t)) * k @ k  # Rodrigues
        T = self.T_sb.copy()
        T[:3, :3] = T[:3, :3] @ noise
        return T


class FakeGripperROS1:
    def __init__(self, calls):
        self.calls = calls

    def open(self, delay=1.0):
        self.calls.append(("gripper.open", delay))

    def close(self, delay=1.0):
        self.calls.append(("gripper.close", delay))


class FakeGripperROS2:
    def __init__(self, calls):
        self.calls = calls

    def release(self, delay=1.0):
        self.calls.append(("gripper.release", delay))

    def grasp(self, delay=1.0):
        self.calls.append(("gripper.grasp", delay))


@dataclass
class FakeInterbotix:
    """Installs one flavour into sys.modules (use with pytest's monkeypatch) and records every call."""

    ros_version: str
    calls: list = field(default_factory=list)
    bots: list = field(default_factory=list)

    def install(self, monkeypatch) -> FakeInterbotix:
        calls, bots, ros = self.calls, self.bots, self.ros_version

        class InterbotixManipulatorXS:
            def __init__(self, robot_model, group_name="arm", gripper_name="gripper", **kwargs):
                calls.append(("InterbotixManipulatorXS", robot_model, group_name, gripper_name))
                self.arm = FakeArm(calls)
                self.gripper = FakeGripperROS1(calls) if ros == "1" else FakeGripperROS2(calls)
                bots.append(self)

        pkg = types.ModuleType("interbotix_xs_modules")
        pkg.__path__ = []
        monkeypatch.setitem(sys.modules, "interbotix_xs_modules", pkg)
        if ros == "1":
            arm = types.ModuleType("interbotix_xs_modules.arm")
            arm.InterbotixManipulatorXS = InterbotixManipulatorXS
            monkeypatch.setitem(sys.modules, "interbotix_xs_modules.arm", arm)
            monkeypatch.setitem(sys.modules, "interbotix_xs_modules.xs_robot", None)  # import fails: ROS 1 only
        else:
            sub = types.ModuleType("interbotix_xs_modules.xs_robot")
            sub.__path__ = []
            arm = types.ModuleType("interbotix_xs_modules.xs_robot.arm")
            arm.InterbotixManipulatorXS = InterbotixManipulatorXS
            common = types.ModuleType("interbotix_common_modules")
            common.__path__ = []
            cr = types.ModuleType("interbotix_common_modules.common_robot")
            cr.__path__ = []
            robot = types.ModuleType("interbotix_common_modules.common_robot.robot")
            robot.robot_startup = lambda *a, **k: calls.append(("robot_startup",))
            robot.robot_shutdown = lambda *a, **k: calls.append(("robot_shutdown",))
            for name, mod in [("interbotix_xs_modules.xs_robot", sub), ("interbotix_xs_modules.xs_robot.arm", arm),
                              ("interbotix_common_modules", common), ("interbotix_common_modules.common_robot", cr),
                              ("interbotix_common_modules.common_robot.robot", robot)]:
                monkeypatch.setitem(sys.modules, name, mod)
            monkeypatch.setitem(sys.modules, "interbotix_xs_modules.arm", None)
        return self

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeCamera:
    def __init__(self, shape=(8, 8, 3)):
        self.shape, self.reads, self.closed = shape, 0, False

    def read(self):
        self.reads += 1
        return np.full(self.shape, self.reads % 255, np.uint8)

    def close(self):
        self.closed = True


class RecordingBackend(RobotBackend):
    """Moves a point; records (position before, command) of every call; IK fails where `ik_fail(i)` says."""

    name = "recording"

    def __init__(self, start=(0.3, -0.09, 0.26), ik_fail=None, success_value=None, size=8):
        self.start, self.ee = tuple(start), tuple(start)
        self.calls: list[tuple[tuple[float, float, float], MotionCommand]] = []
        self.ik_fail = ik_fail or (lambda i: False)
        self.success_value, self.size = success_value, size
        self.events: list[str] = []

    def connect(self):
        self.events.append("connect")

    def disconnect(self):
        self.events.append("disconnect")

    def reset(self, scene: SceneSetup) -> Observation:
        self.events.append("reset")
        self.ee = self.start
        return self.observe()

    def observe(self) -> Observation:
        shade = (40 * len(self.calls)) % 256  # frames differ after each motion
        return Observation(np.full((self.size, self.size, 3), shade, np.uint8), ee_position=self.ee)

    def move(self, command: MotionCommand) -> MotionResult:
        self.calls.append((self.ee, command))
        if self.ik_fail(len(self.calls) - 1):
            return MotionResult(False, "ik_failure", self.ee)
        self.ee = (self.ee[0] + command.dx, self.ee[1] + command.dy, self.ee[2] + command.dz)
        return MotionResult(True, "", self.ee)

    def sleep(self):
        self.events.append("sleep")


class SuccessBackend(RecordingBackend):
    """A recording backend with a success detector (for --operator auto)."""

    def success(self):
        return self.success_value


class TextPolicy(Policy):
    """Replays raw action texts through the real verbalized codec, one per cycle; done after the last."""

    name = "text"

    def __init__(self, texts: list[str]):
        self.texts = list(texts)
        self.codec = make_codec(load_actions("verbalized"))
        self.i = 0
        self.started: list[tuple] = []
        self.decisions: list[Decision] = []

    def start(self, instruction, observation, out_of_distribution=False):
        self.i = 0
        self.started.append((instruction, out_of_distribution))
        return ["do it"]

    def act(self, observation):
        text = self.texts[self.i]
        try:
            return CycleOutput("do it", "plan", text, self.codec.decode(text))
        except ActionParseError as e:
            return CycleOutput("do it", "plan", text, None, str(e))

    def advance(self, decision):
        self.decisions.append(decision)
        self.i += 1

    @property
    def current_subtask(self):
        return "do it" if self.i < len(self.texts) else None
