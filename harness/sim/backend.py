"""`SimBackend`: the WidowX 250S in MuJoCo behind the same `RobotBackend` interface as the real arm.

A trial: `reset(scene)` compiles the task's tabletop with the objects where the schedule put them, puts the arm at
`robot.start_ee` (gripper pointing down, open) and lets everything settle. `move` takes one relative end-effector
step that already passed the safety envelope: the path is cut into 1 cm waypoints, each solved by the project's IK
(`harness.sim.kinematics.inverse`). The gripper goes to its absolute command first (as on the WidowX backend); then,
if any waypoint has no solution, the arm does not move and the result says `ik_failure`, as on the real arm;
otherwise the position servos follow the waypoints for `robot.moving_time_s` of simulated time. `success()` is the
task's detector (`harness.sim.success`).

Rendering is offscreen from the fixed third-person camera at `robot.camera` resolution; set MUJOCO_GL=egl (Mesa on
a CPU) or osmesa before the first import of mujoco - the Makefile exports MUJOCO_GL=egl.
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import numpy as np

from harness.policy.base import Observation
from harness.robot.backend import MotionCommand, MotionResult, RobotBackend, SceneSetup
from harness.sim import kinematics as kin
from harness.sim.mjcf import CAMERA_NAME, FINGER_MAX, FINGER_MIN, Placement, scene_xml
from harness.sim.objects import SimObject, get_object
from harness.sim.success import SuccessTracker, TargetState
from harness.specs import TaskSpec
from harness.specs.robot import SimConfig

log = logging.getLogger(__name__)
WAYPOINT_M = 0.01  # Cartesian spacing of IK waypoints along one step
GRIPPER_TIME_S = 0.4  # simulated time for the fingers to open or close
SETTLE_S = 0.3  # simulated time for objects to come to rest after reset
PARKING = (3.0, 3.0, -0.75)  # where objects a scene does not use wait: on the floor, behind the camera


def _import_mujoco():
    os.environ.setdefault("MUJOCO_GL", "egl")
    try:
        import mujoco
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError("the simulator needs the `sim` extra: pip install -e '.[sim]' (or `make setup-all`)") from e
    return mujoco


class SimBackend(RobotBackend):
    """MuJoCo WidowX 250S for one task. `robot` is its `SimConfig` (workspace, start pose, camera, moving time)."""

    name = "sim"

    def __init__(self, robot: SimConfig, task: TaskSpec, *, render: bool = True):
        if robot.camera.device not in ("", CAMERA_NAME):
            raise ValueError(f"robot {robot.name!r}: key 'camera.device': value {robot.camera.device!r} names no "
                             f"simulated camera; the simulator has one, {CAMERA_NAME!r} (or leave it empty)")
        self.robot, self.task = robot, task
        self.render_images = render  # False: observations carry a 1x1 black image (physics-only benchmarks)
        self._mj = None
        self.model = self.data = None
        self._renderer = None
        self._key: tuple[str, ...] = ()  # the object names the compiled model holds
        self._all_bodies: dict[str, int] = {}
        self._bodies: dict[str, int] = {}  # the current scene's objects
        self.scene: SceneSetup | None = None
        self.objects: dict[str, SimObject] = {}
        self._tracker: SuccessTracker | None = None
        self._target_ee: np.ndarray | None = None  # commanded end-effector position (relative steps add to it)
        self._gripper = 1.0
        self.steps_executed = 0
        self.ik_failures = 0

    # ------------------------------------------------------------------ lifecycle
    def connect(self) -> None:
        if self._mj is None:
            self._mj = _import_mujoco()

    def disconnect(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def reset(self, scene: SceneSetup) -> Observation:
        self.connect()
        mj = self._mj
        self.scene = scene
        placements = self._placements(scene)
        self.objects = {p.obj.name: p.obj for p in placements}
        self._load(placements)
        for p in placements:
            self._put(p.obj.name, p.x, p.y)
        for i, name in enumerate(n for n in self._all_bodies if n not in self.objects):
            self._put(name, PARKING[0] + 0.3 * i, PARKING[1], PARKING[2])
        self._bodies = {n: self._all_bodies[n] for n in self.objects}
        start = np.asarray(self.robot.start_ee, float)
        q = kin.inverse(start)
        if q is None:
            raise ValueError(f"robot {self.robot.name!r}: start_ee {list(start)} is out of the simulated arm's reach "
                             "(top-down gripper); choose a start pose the IK can solve")
        self._set_arm(q, teleport=True)
        self._set_gripper(1.0, teleport=True)
        self._target_ee = start
        mj.mj_forward(self.model, self.data)
        self._simulate(SETTLE_S)  # objects spawn 1 mm above the table and come to rest
        self._tracker = SuccessTracker(self.task.success_check, rest_z=self._body_pos(scene.target)[2])
        self._tracker.update(self._target_state())
        self.steps_executed = self.ik_failures = 0
        return self.observe()

    def _load(self, placements: list[Placement]) -> None:
        """Compile the task's tabletop once (every object it can use); later resets only rearrange it.

        A renderer costs far more to create than a frame to draw, and it belongs to one model: keeping the model
        across trials keeps the renderer. Objects a scene does not use are parked out of view."""
        names = [self.task.target, *([self.task.destination] if self.task.destination else []),
                 *self.task.objects, *self.task.distractors, *(p.obj.name for p in placements)]
        key = tuple(sorted(set(names)))
        if key == self._key:
            self._mj.mj_resetData(self.model, self.data)
            return
        everything = [Placement(get_object(n), PARKING[0], PARKING[1]) for n in key]
        xml = scene_xml(everything, self.robot.camera.width, self.robot.camera.height)
        self.model = self._mj.MjModel.from_xml_string(xml)
        self.data = self._mj.MjData(self.model)
        self.disconnect()  # a renderer belongs to one model
        self._key = key
        self._ids()

    def _put(self, name: str, x: float, y: float, z: float = 0.0) -> None:
        """Place an object's frame at (x, y), resting on a surface at height z (static ones move their body)."""
        m, obj, body = self.model, get_object(name), self._all_bodies[name]
        if obj.static:
            m.body_pos[body] = (x, y, z + obj.rest_z)
            return
        adr = m.jnt_qposadr[m.body_jntadr[body]]
        self.data.qpos[adr:adr + 7] = (x, y, z + obj.rest_z + 0.001, 1.0, 0.0, 0.0, 0.0)

    def sleep(self) -> None:
        """Sleep pose: the simulated arm is simply placed there (nothing to protect)."""
        if self.data is None:
            return
        self._set_arm(kin.SLEEP, teleport=True)
        self._mj.mj_forward(self.model, self.data)
        self._target_ee = self.ee_position()

    # ------------------------------------------------------------------ scene
    def _placements(self, scene: SceneSetup) -> list[Placement]:
        names = [scene.target] + ([scene.destination] if scene.destination else []) + list(scene.distractors)
        names += [n for n in scene.positions if n not in names]
        missing = [n for n in names if n not in scene.positions]
        if missing:
            raise ValueError(f"scene of task {scene.task!r} trial {scene.trial_index}: no position for "
                             f"{', '.join(missing)}; SceneSetup.positions must place every object")
        out = []
        for n in dict.fromkeys(names):
            x, y = (float(v) for v in scene.positions[n])
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"scene position of {n!r} is not finite: {scene.positions[n]!r}")
            out.append(Placement(get_object(n), x, y))
        return out

    def _ids(self) -> None:
        mj, m = self._mj, self.model
        self._joint_qpos = [m.jnt_qposadr[mj.mj_name2id(m, mj.mjtObj.mjOBJ_JOINT, j)] for j in kin.JOINTS]
        self._finger_qpos = [m.jnt_qposadr[mj.mj_name2id(m, mj.mjtObj.mjOBJ_JOINT, f"{s}_finger")]
                             for s in ("left", "right")]
        self._arm_act = [mj.mj_name2id(m, mj.mjtObj.mjOBJ_ACTUATOR, j) for j in kin.JOINTS]
        self._finger_act = [mj.mj_name2id(m, mj.mjtObj.mjOBJ_ACTUATOR, f"{s}_finger") for s in ("left", "right")]
        self._pads = [mj.mj_name2id(m, mj.mjtObj.mjOBJ_GEOM, f"{s}_pad") for s in ("left", "right")]
        self._ee_site = mj.mj_name2id(m, mj.mjtObj.mjOBJ_SITE, "ee")
        self._all_bodies = {n: mj.mj_name2id(m, mj.mjtObj.mjOBJ_BODY, n) for n in self._key}

    # ------------------------------------------------------------------ state
    def joint_positions(self) -> np.ndarray:
        return self.data.qpos[self._joint_qpos].copy()

    def ee_position(self) -> np.ndarray:
        return self.data.site_xpos[self._ee_site].copy()

    def ee_rotation(self) -> np.ndarray:
        return self.data.site_xmat[self._ee_site].reshape(3, 3).copy()

    def finger_opening(self) -> float:
        """Distance between the pads (m)."""
        return float(sum(self.data.qpos[a] for a in self._finger_qpos) - 2 * FINGER_MIN)

    def _body_pos(self, name: str) -> np.ndarray:
        return self.data.xpos[self._bodies[name]].copy()

    def object_poses(self) -> dict[str, dict[str, list[float]]]:
        return {n: {"position": self.data.xpos[b].tolist(), "quat": self.data.xquat[b].tolist()}
                for n, b in self._bodies.items()}

    def _pad_contacts(self, body: int) -> tuple[bool, bool]:
        left = right = False
        m, d = self.model, self.data
        for c in d.contact[: d.ncon]:
            for pad, other in ((c.geom1, c.geom2), (c.geom2, c.geom1)):
                if m.geom_bodyid[other] == body and pad in self._pads:
                    left |= pad == self._pads[0]
                    right |= pad == self._pads[1]
        return left, right

    def _target_state(self) -> TargetState:
        scene = self.scene
        left, right = self._pad_contacts(self._bodies[scene.target])
        dest = region = None
        if scene.destination:
            dest = tuple(float(v) for v in self._body_pos(scene.destination))
            region = self.objects[scene.destination].region
        return TargetState(tuple(float(v) for v in self._body_pos(scene.target)), bool(left), bool(right), dest,
                           region, self.objects[scene.target].rest_z, tuple(float(v) for v in self.ee_position()))

    def observe(self) -> Observation:
        if self.data is None:
            raise RuntimeError("SimBackend.observe before reset: call reset(scene) first")
        state = self._target_state()
        extra: dict[str, Any] = {
            "objects": self.object_poses(),
            "target": self.scene.target,
            "destination": self.scene.destination,
            "joints": self.joint_positions().tolist(),
            "finger_opening_m": self.finger_opening(),
            "target_held": state.held,
            "sim_time_s": float(self.data.time),
            "success_phase": self._tracker.phase if self._tracker else "start",
        }
        return Observation(image=self.render(), ee_position=tuple(float(v) for v in self.ee_position()),
                           gripper=self._gripper, timestamp=float(self.data.time), extra=extra)

    def render(self) -> np.ndarray:
        """The third-person camera frame (H x W x 3 uint8)."""
        if not self.render_images:
            return np.zeros((1, 1, 3), np.uint8)
        if self._renderer is None:
            cam = self.robot.camera
            try:
                self._renderer = self._mj.Renderer(self.model, height=cam.height, width=cam.width)
            except Exception as e:  # mujoco raises plain errors from the GL platform layer
                gl = os.environ.get("MUJOCO_GL", "unset")
                raise RuntimeError(
                    f"offscreen rendering failed with MUJOCO_GL={gl}: {e}. On Debian install libegl1 libegl-mesa0 "
                    "libgl1-mesa-dri (`make setup-all` does), or use MUJOCO_GL=osmesa with libosmesa6") from e
        self._renderer.update_scene(self.data, camera=CAMERA_NAME)
        return self._renderer.render().copy()

    # ------------------------------------------------------------------ motion
    def _set_arm(self, q: np.ndarray, teleport: bool = False) -> None:
        self.data.ctrl[self._arm_act] = q
        if teleport:
            self.data.qpos[self._joint_qpos] = q
            self.data.qvel[[self.model.jnt_dofadr[self.model.actuator_trnid[a, 0]] for a in self._arm_act]] = 0

    def _set_gripper(self, g: float, teleport: bool = False) -> None:
        width = FINGER_MIN + float(np.clip(g, 0.0, 1.0)) * (FINGER_MAX - FINGER_MIN)
        self.data.ctrl[self._finger_act] = width
        if teleport:
            self.data.qpos[self._finger_qpos] = width
        self._gripper = float(g)

    def _simulate(self, seconds: float) -> None:
        n = max(1, round(seconds / self.model.opt.timestep))
        self._mj.mj_step(self.model, self.data, nstep=n)

    def settle(self, seconds: float) -> None:
        """Let the physics run for `seconds` of simulated time with the arm and gripper holding their commands."""
        if self.data is None:
            raise RuntimeError("SimBackend.settle before reset: call reset(scene) first")
        self._simulate(seconds)
        self._tracker.update(self._target_state())

    def move(self, command: MotionCommand) -> MotionResult:
        if self.data is None:
            raise RuntimeError("SimBackend.move before reset: call reset(scene) first")
        if any(command.rotation):  # the simulated arm holds Bridge's gripper-down orientation (position-only IK)
            log.info("sim: rotation %s rad ignored (the simulator controls position only)", command.rotation)
        delta = np.array([command.dx, command.dy, command.dz], float)
        if not np.all(np.isfinite(delta)):
            return MotionResult(False, "non_finite", tuple(self.ee_position()))
        # the gripper first, as the WidowX backend does: a step's gripper is its state during the motion (the merge
        # rule), so "move up 5 cm, gripper closed" grasps, then lifts; an arm step IK refuses leaves the gripper moved
        if command.gripper is not None and command.gripper != self._gripper:
            self._set_gripper(command.gripper)
            self._simulate(GRIPPER_TIME_S)
        goal = self._target_ee + delta
        n = max(1, math.ceil(float(np.linalg.norm(delta)) / WAYPOINT_M))
        path = [self._target_ee + delta * (i / n) for i in range(1, n + 1)]
        solutions = [kin.inverse(p) for p in path]
        if any(q is None for q in solutions):
            self.ik_failures += 1
            return MotionResult(False, "ik_failure", tuple(float(v) for v in self.ee_position()))
        if np.linalg.norm(delta) > 0:
            dt = self.robot.moving_time_s / n
            for q in solutions:
                self._set_arm(q)
                self._simulate(dt)
            self._target_ee = goal
        self.steps_executed += 1
        self._tracker.update(self._target_state())
        return MotionResult(True, "", tuple(float(v) for v in self.ee_position()))

    # ------------------------------------------------------------------ scoring
    def success(self) -> bool | None:
        if self._tracker is None:
            return None
        self._tracker.update(self._target_state())
        return bool(self._tracker.success())

    def progress(self) -> int | None:
        """Partial success on the task's rubric, measured over the whole trial (`harness.sim.success`)."""
        if self._tracker is None:
            return None
        self._tracker.update(self._target_state())
        return self._tracker.progress(self.task.progress)
