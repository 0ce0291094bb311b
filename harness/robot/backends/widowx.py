"""The real WidowX 250S through Trossen's `interbotix_xs_modules` (ROS 1 or ROS 2), imported only here.

The two APIs differ where it matters to us:

| | ROS 1 | ROS 2 |
|---|---|---|
| import | `interbotix_xs_modules.arm` | `interbotix_xs_modules.xs_robot.arm` (+ `robot_startup`/`robot_shutdown` from `interbotix_common_modules.common_robot.robot`) |
| gripper | `open()` / `close()` | `release()` / `grasp()` |

Both: `arm.set_ee_cartesian_trajectory(x, y, z, ..., moving_time=...)` moves the end effector in a straight line,
relative, in a frame `T_sy` with the base's origin and a yaw, and returns False - without moving - when the path
cannot be planned (IK failure). Interbotix takes that yaw from the *commanded* pose `T_sb` (`get_ee_pose_command()`)
as the z angle of tf's `euler_from_matrix(axes="sxyz")`, which returns 0 in gimbal lock (cos(pitch) < 4 eps).
Our steps are in the base frame, so they are rotated by that same yaw first (`interbotix_yaw`). With Bridge's
gripper-down start (pitch pi/2) the commanded pose stays in gimbal lock for the whole trial, so the frame is the
base frame every step; the *actual* pose (`get_ee_pose()`, forward kinematics of the encoders) there has
cos(pitch) ~ encoder noise, and a yaw read from it would turn each step by a random angle.
`go_to_home_pose()` / `go_to_sleep_pose()`; `set_ee_pose_components(x, y, z, roll, pitch, yaw)` (yaw None =
the bearing of (x, y)) returns (joint values, success).

A command's gripper is the state during the step (the merge rule), so it is set before the translation; a gripper
already in that state is left alone. A rotation (only the OpenVLA / ECoT baselines predict one: droll, dpitch, dyaw,
already bounded by the envelope) goes to the same relative move's `roll`, `pitch`, `yaw` arguments, which
interbotix adds to the commanded pose's Euler angles in `T_sy` - Bridge's deltas are differences of the same
sxyz angles of its controller's state.
"""

from __future__ import annotations

import importlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.actions.types import binarize_gripper
from harness.policy.base import Observation
from harness.robot.backend import MotionCommand, MotionResult, RobotBackend, SceneSetup
from harness.robot.camera import Camera, make_camera
from harness.specs.robot import WidowXConfig

log = logging.getLogger(__name__)

INSTALL_HELP = (
    "the WidowX backend needs Trossen Robotics' interbotix_xs_modules, which is not on PyPI: install the Interbotix "
    "X-Series arm packages with Trossen's ROS install script (xsarm_amd64_install.sh, ROS 1 Noetic or ROS 2 "
    "Humble), source the workspace (e.g. `source ~/interbotix_ws/install/setup.bash`), start the arm driver "
    "(`ros2 launch interbotix_xsarm_control xsarm_control.launch.py robot_model:=wx250s`, or roslaunch on ROS 1), "
    "and run vlm2vla from that shell with the project installed into the same Python. Without the arm use "
    "--robot sim or --robot dry-run."
)


@dataclass
class InterbotixAPI:
    """What differs between the ROS 1 and ROS 2 flavours."""

    ros_version: str
    manipulator_cls: Any
    startup: Any = None  # ROS 2: robot_startup()
    shutdown: Any = None  # ROS 2: robot_shutdown()

    def open_gripper(self, bot: Any, delay: float) -> None:
        (bot.gripper.open if self.ros_version == "1" else bot.gripper.release)(delay=delay)

    def close_gripper(self, bot: Any, delay: float) -> None:
        (bot.gripper.close if self.ros_version == "1" else bot.gripper.grasp)(delay=delay)


def load_interbotix(ros_version: str = "auto") -> InterbotixAPI:
    """Import the interbotix flavour asked for (auto: ROS 2 first, then ROS 1); a clear error if neither imports."""
    errors = []
    for version in (("2", "1") if ros_version == "auto" else (ros_version,)):
        try:
            if version == "2":
                arm = importlib.import_module("interbotix_xs_modules.xs_robot.arm")
                try:
                    robot = importlib.import_module("interbotix_common_modules.common_robot.robot")
                    startup, shutdown = robot.robot_startup, robot.robot_shutdown
                except ImportError:  # older ROS 2 releases start the node in the constructor
                    startup = shutdown = None
                return InterbotixAPI("2", arm.InterbotixManipulatorXS, startup, shutdown)
            arm = importlib.import_module("interbotix_xs_modules.arm")
            return InterbotixAPI("1", arm.InterbotixManipulatorXS)
        except (ImportError, AttributeError) as e:
            errors.append(f"ROS {version}: {e}")
    raise RuntimeError(f"{INSTALL_HELP} (ros_version={ros_version!r}; tried {'; '.join(errors)})")


GIMBAL_LOCK = 4.0 * float(np.finfo(float).eps)  # tf.transformations' _EPS: below it euler_from_matrix sets yaw 0


def interbotix_yaw(T_sb: np.ndarray) -> float:
    """The yaw of interbotix's relative-move frame `T_sy` for a commanded pose (tf's sxyz Euler z angle, 0 in
    gimbal lock): the frame `set_ee_cartesian_trajectory` will move in, whatever the pitch."""
    r = np.asarray(T_sb, dtype=float)[:3, :3]
    if math.hypot(r[0, 0], r[1, 0]) > GIMBAL_LOCK:
        return math.atan2(r[1, 0], r[0, 0])
    return 0.0


def base_to_tsy(dx: float, dy: float, yaw: float) -> tuple[float, float]:
    """A base-frame horizontal step expressed in `T_sy` (the base frame turned by the end effector's yaw)."""
    c, s = math.cos(yaw), math.sin(yaw)
    return (c * dx + s * dy, -s * dx + c * dy)


class WidowXBackend(RobotBackend):
    name = "widowx"

    def __init__(self, robot: WidowXConfig, camera: Camera | None = None, api: InterbotixAPI | None = None):
        self.robot = robot
        self._camera = camera
        self._api = api
        self.bot: Any = None
        self.gripper: float | None = None

    # ---------------------------------------------------------------- lifecycle
    def connect(self) -> None:
        if self.bot is not None:
            return
        self._api = self._api or load_interbotix(self.robot.ros_version)
        self.bot = self._api.manipulator_cls(robot_model=self.robot.robot_model, group_name="arm",
                                             gripper_name="gripper")
        if self._api.startup is not None:
            self._api.startup()
        if self._camera is None:
            self._camera = make_camera(self.robot.camera)
        log.info("widowx: connected (interbotix ROS %s, %s)", self._api.ros_version, self.robot.robot_model)

    def disconnect(self) -> None:
        try:
            if self._camera is not None:
                self._camera.close()
        finally:
            self._camera = None
            if self.bot is not None and self._api is not None and self._api.shutdown is not None:
                self._api.shutdown()
            self.bot = None

    def sleep(self) -> None:
        """Home, then sleep (Trossen's order: it keeps the arm clear of the table). Safe to call repeatedly."""
        if self.bot is None:
            return
        self.bot.arm.go_to_home_pose()
        self.bot.arm.go_to_sleep_pose()
        log.info("widowx: sleep pose")

    # ---------------------------------------------------------------- trial
    def reset(self, scene: SceneSetup) -> Observation:
        self._require()
        self._set_gripper(1.0)
        self.bot.arm.go_to_home_pose()
        x, y, z = self.robot.start_ee
        result = self.bot.arm.set_ee_pose_components(x=x, y=y, z=z, roll=0.0, pitch=self.robot.start_pitch,
                                                     yaw=self.robot.start_yaw)
        ok = result[1] if isinstance(result, tuple) else bool(result)
        if not ok:
            raise RuntimeError(f"the arm cannot reach the start pose start_ee={self.robot.start_ee}, "
                               f"start_pitch={self.robot.start_pitch}, start_yaw={self.robot.start_yaw} (IK failed); "
                               "change them in the robot config (experiments/robots/)")
        return self.observe()

    def observe(self) -> Observation:
        self._require()
        assert self._camera is not None
        return Observation(image=self._camera.read(), ee_position=self._ee(), gripper=self.gripper)

    def move(self, command: MotionCommand) -> MotionResult:
        self._require()
        if command.gripper is not None:
            self._set_gripper(binarize_gripper(command.gripper))
        if (command.dx, command.dy, command.dz) == (0.0, 0.0, 0.0) and not any(command.rotation):
            return MotionResult(True, "", self._ee())
        x, y = base_to_tsy(command.dx, command.dy, self._yaw())
        rotation = {"roll": command.droll, "pitch": command.dpitch, "yaw": command.dyaw} if any(command.rotation) else {}
        ok = self.bot.arm.set_ee_cartesian_trajectory(x=x, y=y, z=command.dz, moving_time=self.robot.moving_time_s,
                                                      **rotation)
        if ok is False:
            log.warning("widowx: IK failure for step (%.4f, %.4f, %.4f) m, rotation %s rad: no motion", command.dx,
                        command.dy, command.dz, command.rotation)
            return MotionResult(False, "ik_failure", self._ee())
        return MotionResult(True, "", self._ee())

    # ---------------------------------------------------------------- helpers
    def _require(self) -> None:
        if self.bot is None:
            raise RuntimeError("the WidowX backend is not connected (use it as a context manager)")

    def _set_gripper(self, state: float) -> None:
        if state == self.gripper:
            return
        assert self._api is not None
        if binarize_gripper(state) == 1.0:
            self._api.open_gripper(self.bot, self.robot.gripper_delay_s)
        else:
            self._api.close_gripper(self.bot, self.robot.gripper_delay_s)
        self.gripper = state

    def _pose(self) -> np.ndarray:
        return np.asarray(self.bot.arm.get_ee_pose(), dtype=float)

    def _ee(self) -> tuple[float, float, float]:
        p = self._pose()[:3, 3]
        return (float(p[0]), float(p[1]), float(p[2]))

    def _yaw(self) -> float:
        return interbotix_yaw(self.bot.arm.get_ee_pose_command())
