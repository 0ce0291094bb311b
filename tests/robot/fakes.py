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


class FakeArm:
    """Keeps an end-effector pose T_sb; Cartesian moves are applied in T_sy, as interbotix does."""

    def __init__(self, calls: list, reach: float = 0.55):
        self.calls, self.reach = calls, reach
        self.T = np.eye(4)
        self.T[:3, 3] = HOME

    def _set_position(self, x, y, z, yaw=None):
        yaw = math.atan2(y, x) if yaw is None else yaw
        self.T = np.eye(4)
        self.T[:3, :3] = [[math.cos(yaw), -math.sin(yaw), 0], [math.sin(yaw), math.cos(yaw), 0], [0, 0, 1]]
        self.T[:3, 3] = (x, y, z)

    def go_to_home_pose(self, moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("go_to_home_pose",))
        self._set_position(*HOME, yaw=0.0)

    def go_to_sleep_pose(self, moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("go_to_sleep_pose",))

    def set_ee_pose_components(self, x=0, y=0, z=0, roll=0, pitch=0, yaw=None, custom_guess=None, execute=True,
                               moving_time=None, accel_time=None, blocking=True):
        self.calls.append(("set_ee_pose_components", x, y, z, pitch))
        if math.hypot(x, y) > self.reach:
            return None, False
        self._set_position(x, y, z)
        return [0.0] * 6, True

    def set_ee_cartesian_trajectory(self, x=0, y=0, z=0, roll=0, pitch=0, yaw=0, moving_time=None,
                                    wp_moving_time=0.2, wp_accel_time=0.1, wp_period=0.05):
        self.calls.append(("set_ee_cartesian_trajectory", x, y, z, moving_time))
        R = self.T[:3, :3]
        ey = math.atan2(R[1, 0], R[0, 0])
        bx = math.cos(ey) * x - math.sin(ey) * y  # T_sy -> base frame
        by = math.sin(ey) * x + math.cos(ey) * y
        new = self.T[:3, 3] + (bx, by, z)
        if math.hypot(new[0], new[1]) > self.reach:
            return False  # not plannable: interbotix does not move and returns False
        self.T[:3, 3] = new
        return True

    def get_ee_pose(self):
        return self.T.copy()


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
