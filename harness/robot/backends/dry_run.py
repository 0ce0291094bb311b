"""The dry run: a backend that logs every command it receives and moves nothing.

A rotation (only the baselines predict one) is logged and ignored: the sketch has no orientation.
It answers like a robot (the end-effector position it would have reached, a camera frame) so a whole session -
console, schedule, envelope, trial log - can be rehearsed without hardware. The frame is a still top-down sketch of
the trial's scene (objects where the operator would place them); only the end-effector marker moves.
"""

from __future__ import annotations

import logging

import numpy as np
from PIL import Image, ImageDraw

from harness.policy.base import Observation
from harness.robot.backend import MotionCommand, MotionResult, RobotBackend, SceneSetup
from harness.specs.robot import DryRunConfig

log = logging.getLogger(__name__)


class DryRunBackend(RobotBackend):
    name = "dry-run"

    def __init__(self, robot: DryRunConfig):
        self.robot = robot
        self.commands: list[MotionCommand] = []  # everything that reached the "arm", in order
        self.ee = tuple(robot.start_ee)
        self.gripper = 1.0
        self.scene: SceneSetup | None = None
        self.connected = False
        self.sleeps = 0

    def connect(self) -> None:
        self.connected = True
        log.info("dry run: connected (nothing will move)")

    def disconnect(self) -> None:
        self.connected = False

    def reset(self, scene: SceneSetup) -> Observation:
        self.scene, self.ee, self.gripper = scene, tuple(self.robot.start_ee), 1.0
        log.info("dry run: reset for trial %d (%s)", scene.trial_index, scene.describe())
        return self.observe()

    def observe(self) -> Observation:
        return Observation(image=self._frame(), ee_position=self.ee, gripper=self.gripper)  # type: ignore[arg-type]

    def move(self, command: MotionCommand) -> MotionResult:
        self.commands.append(command)
        if any(command.rotation):
            log.info("dry run: rotation %s rad ignored (the dry run tracks position only)", command.rotation)
        self.ee = (self.ee[0] + command.dx, self.ee[1] + command.dy, self.ee[2] + command.dz)
        if command.gripper is not None:
            self.gripper = command.gripper
        log.info("dry run: move %+.4f %+.4f %+.4f m, gripper %s -> ee %s", command.dx, command.dy, command.dz,
                 command.gripper, tuple(round(v, 4) for v in self.ee))
        return MotionResult(True, "", self.ee)  # type: ignore[arg-type]

    def sleep(self) -> None:
        self.sleeps += 1
        log.info("dry run: sleep pose")

    def _frame(self) -> np.ndarray:
        """Top-down sketch: the workspace box, the objects, the end effector (x forward = up in the image)."""
        w, h = self.robot.camera.width, self.robot.camera.height
        img = Image.new("RGB", (w, h), (205, 190, 160))
        draw = ImageDraw.Draw(img)
        (x0, y0, _), (x1, y1, _) = self.robot.workspace.min, self.robot.workspace.max

        def px(x: float, y: float) -> tuple[float, float]:
            return ((y1 - y) / (y1 - y0) * w, (x1 - x) / (x1 - x0) * h)

        for name, (x, y) in (self.scene.positions if self.scene else {}).items():
            cx, cy = px(x, y)
            colour = (220, 110, 30) if self.scene and name == self.scene.target else (90, 110, 160)
            draw.ellipse((cx - 12, cy - 12, cx + 12, cy + 12), fill=colour)
            draw.text((cx + 14, cy - 6), name, fill=(0, 0, 0))
        ex, ey = px(self.ee[0], self.ee[1])
        r = 6 + 20 * max(0.0, min(1.0, self.ee[2] / 0.3))
        draw.ellipse((ex - r, ey - r, ex + r, ey + r), outline=(0, 0, 0) if self.gripper >= 0.5 else (200, 0, 0),
                     width=3)
        return np.asarray(img)
