"""Robot configurations: the fields every robot kind shares, and one config per kind, chosen by `backend`.

As in LeRobot, each kind of robot has its own config class next to the shared one: `RobotSpec` holds the safety
envelope, start position, step time and camera that the envelope, the trial session and every backend read;
`WidowXConfig` adds what only the real arm's interbotix driver needs (orientation, gripper delay, ROS flavour),
while `SimConfig` and `DryRunConfig` only check what their backend ignores. The spec loader builds the class `backend` names
(`robot_config`), so a key of another kind - `ros_version` in a sim config - is an unknown key, not silently
ignored. The classes live here rather than beside each backend because the loader (a leaf layer) must see them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.specs.base import check, check_choice, check_positive

ENVELOPE_MODES = ("clip", "reject")
CAMERA_KINDS = ("realsense", "opencv", "none")


@dataclass
class WorkspaceSpec:
    """Axis-aligned box the end effector must stay in (metres, robot base frame; table surface at z = 0)."""

    min: list[float] = field(default_factory=lambda: [0.10, -0.20, 0.0])
    max: list[float] = field(default_factory=lambda: [0.45, 0.25, 0.30])

    def __post_init__(self) -> None:
        check(len(self.min) == 3 and len(self.max) == 3, "workspace", [self.min, self.max], "min and max of length 3")
        check(all(a < b for a, b in zip(self.min, self.max, strict=True)), "workspace.max", self.max,
              "each coordinate greater than workspace.min")


@dataclass
class CameraSpec:
    width: int = 640
    height: int = 480
    device: str = ""  # real robot: e.g. a RealSense serial or /dev/video index; sim: camera name
    kind: str = "none"  # real robot: realsense (pyrealsense2) or opencv (cv2.VideoCapture); none = no camera

    def __post_init__(self) -> None:
        check_choice("camera.kind", self.kind, CAMERA_KINDS)
        check(self.width >= 16 and self.height >= 16, "camera", [self.width, self.height], "width and height >= 16")


@dataclass
class RobotSpec:
    """What every robot kind shares. Build a kind's config (`robot_config(backend)`), never this class itself."""

    name: str = "???"
    backend: str = "dry-run"  # the robot kind: selects its config class and backend (ROBOT_CONFIGS)
    description: str = ""
    workspace: WorkspaceSpec = field(default_factory=WorkspaceSpec)
    max_step_cm: float = 5.0  # per-step translation limit (Bridge clips at 5 cm)
    # per-step limit of each rotation angle (droll, dpitch, dyaw; only the baselines rotate): Bridge clips at 0.25 rad
    max_rotation_rad: float = 0.25
    out_of_envelope: str = "clip"  # clip the command into the envelope, or reject it (no motion)
    start_ee: list[float] = field(default_factory=lambda: [0.30, -0.09, 0.26])  # Bridge evaluation start pose
    moving_time_s: float = 1.0  # seconds one step takes (widowx and sim; the dry run moves nothing)
    camera: CameraSpec = field(default_factory=CameraSpec)

    def __post_init__(self) -> None:
        check_choice("backend", self.backend, ROBOT_CONFIGS)
        check(type(self) is ROBOT_CONFIGS[self.backend], "backend", self.backend,
              f"{type(self).__name__}'s own backend: load the spec, or build robot_config(backend)")
        check_choice("out_of_envelope", self.out_of_envelope, ENVELOPE_MODES)
        check_positive("max_step_cm", self.max_step_cm)
        check(0.0 < self.max_rotation_rad <= math.pi, "max_rotation_rad", self.max_rotation_rad,
              "radians in (0, pi] per step and axis (Bridge: 0.25)")
        check_positive("moving_time_s", self.moving_time_s)
        check(len(self.start_ee) == 3, "start_ee", self.start_ee, "[x, y, z] in metres")
        inside = all(lo <= v <= hi for v, lo, hi in zip(self.start_ee, self.workspace.min, self.workspace.max,
                                                          strict=True))
        check(inside, "start_ee", self.start_ee, "a point inside the workspace box")


@dataclass
class DryRunConfig(RobotSpec):
    """`harness.robot.backends.dry_run`: logs every command and moves nothing; its frames are a drawn sketch."""

    backend: str = "dry-run"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.camera.kind == "none", "camera.kind", self.camera.kind, "'none' (the dry run draws its frames)")


@dataclass
class SimConfig(RobotSpec):
    """`harness.sim.backend`: the MuJoCo WidowX; it starts gripper-down at `start_ee` and renders its own camera
    (`camera.device` names it)."""

    backend: str = "sim"

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.camera.kind == "none", "camera.kind", self.camera.kind,
              "'none' (the simulator renders its own camera)")


@dataclass
class WidowXConfig(RobotSpec):
    """`harness.robot.backends.widowx`: the real WidowX through interbotix_xs_modules."""

    backend: str = "widowx"
    # start orientation (rad, interbotix's roll 0, pitch, yaw): Bridge's controller holds the gripper pointing
    # down, rotation [[0,0,1],[0,1,0],[-1,0,0]] = pitch pi/2, yaw 0 - the pose every Bridge-trained policy learnt from.
    # start_yaw null = interbotix's default, the bearing of start_ee (fingers along the arm).
    start_pitch: float = math.pi / 2
    start_yaw: float | None = 0.0
    gripper_delay_s: float = 1.0  # seconds to wait for the gripper to open/close
    ros_version: str = "auto"  # 1, 2 or auto (whichever interbotix API imports)
    robot_model: str = "wx250s"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("ros_version", self.ros_version, ("auto", "1", "2"))
        check(abs(self.start_pitch) <= math.pi, "start_pitch", self.start_pitch, "radians in [-pi, pi] (pi/2 = down)")
        check(self.start_yaw is None or abs(self.start_yaw) <= math.pi, "start_yaw", self.start_yaw,
              "radians in [-pi, pi], or null for the bearing of start_ee")
        check(self.gripper_delay_s >= 0, "gripper_delay_s", self.gripper_delay_s, "seconds >= 0")


# backend -> its config class: the loader builds the one a robot spec's `backend` names
ROBOT_CONFIGS: dict[str, type[RobotSpec]] = {"widowx": WidowXConfig, "sim": SimConfig, "dry-run": DryRunConfig}
BACKENDS = tuple(ROBOT_CONFIGS)


def robot_config(backend: object) -> type[RobotSpec]:
    """The config class for a robot spec whose `backend` is this value (missing in the file = the default)."""
    check_choice("backend", backend, ROBOT_CONFIGS)
    return ROBOT_CONFIGS[backend]  # type: ignore[index]
