"""`OraclePolicy`: a scripted policy that knows where everything is, and speaks the action language.

It proves the simulated tasks and their detectors are solvable, and exercises the whole text path a model uses: each
cycle it plans a chunk from the object poses in the observation, writes it as verbalized action text with
`VerbalizedCodec`, and fills `CycleOutput.chunk` by decoding that text - so what the robot executes is what the text
says, at the codec's 0.1 cm resolution. Model spec: `experiments/models/oracle.yaml` (type `oracle`).

Sub-tasks per task kind: pickup = reach, grasp, lift; pick_place adds move over, place, release; pick_place_lift
then grasps the target again where it was placed and lifts it. Each cycle plans from the current observation (closed
loop across sub-tasks), with steps of at most `MAX_STEP_M` so no envelope clip ever changes them.
"""

from __future__ import annotations

import math

import numpy as np

from harness.actions import ActionParseError, ActionStep, VerbalizedCodec, motion_plan
from harness.policy.base import CycleOutput, Decision, Observation, SubtaskListPolicy
from harness.sim.backend import SimBackend
from harness.sim.objects import get_object

MAX_STEP_M = 0.045  # below the 5 cm envelope limit, with room for the 0.1 cm rounding of the text
CARRY_Z = 0.15  # travel height above the table: clears every object in the catalogue
LIFT_M = 0.10  # how far a lift raises the target
PLACE_CLEARANCE_M = 0.012  # the held object's bottom stops this far above the rim/plate before release
RETREAT_M = 0.05  # after release, move up this far so the fingers clear the object


class OraclePolicy(SubtaskListPolicy):
    """Scripted expert for `SimBackend` scenes; `backend` gives the scene (target, destination) and task kind."""

    name = "oracle"

    def __init__(self, backend: SimBackend, codec: VerbalizedCodec | None = None):
        self.backend = backend
        self.codec = codec or VerbalizedCodec()
        self.subtasks: list[str] = []
        self._kinds: list[str] = []
        self._index = 0

    # ------------------------------------------------------------------ Policy interface
    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        scene = self.backend.scene
        if scene is None:
            raise RuntimeError("OraclePolicy.start before the backend's reset: the oracle reads the scene it set up")
        t, d = scene.target.replace("-", " "), (scene.destination or "").replace("-", " ")
        check = self.backend.task.success_check
        steps = [("reach", f"reach the {t}"), ("grasp", f"grasp the {t}"), ("lift", f"lift the {t}")]
        if check in ("pick_place", "pick_place_lift"):
            prep = "in" if self._is_container(scene.destination) else "on"
            steps += [("carry", f"move the {t} over the {d}"), ("place", f"put the {t} {prep} the {d}"),
                      ("release", f"release the {t}")]
        if check == "pick_place_lift":
            steps += [("grasp", f"grasp the {t} again"), ("lift", f"lift the {t} again")]
        self._kinds = [k for k, _ in steps]
        self.subtasks = [s for _, s in steps]
        self._index = 0
        return list(self.subtasks)

    def advance(self, decision: Decision) -> None:
        if decision.action == "proceed":
            self._index += 1

    def act(self, observation: Observation) -> CycleOutput:
        if self.current_subtask is None:
            raise RuntimeError("OraclePolicy.act after the last sub-task")
        chunk = self._plan(self._kinds[self._index], observation)
        text = self.codec.encode(chunk)
        plan = motion_plan(chunk, previous_gripper=observation.gripper)
        try:
            decoded, error = self.codec.decode(text), None
        except ActionParseError as e:  # pragma: no cover - the codec decodes what it encodes (tested there)
            decoded, error = None, str(e)
        return CycleOutput(self.current_subtask, plan, text, decoded, error,
                           texts={"subtasks": "; ".join(self.subtasks), "plan": plan, "action": text})

    # ------------------------------------------------------------------ planning
    @staticmethod
    def _is_container(name: str | None) -> bool:
        return name is not None and get_object(name).region is not None and get_object(name).region.z_min == 0.0

    def _plan(self, kind: str, obs: Observation) -> list[ActionStep]:
        scene = self.backend.scene
        ee = np.asarray(obs.ee_position, float)
        poses = obs.extra["objects"]
        target = np.asarray(poses[scene.target]["position"], float)
        obj = get_object(scene.target)
        # The grasp point: above the target's centre, at the object's grasp height relative to its resting centre.
        grasp = np.array([target[0], target[1], target[2] - obj.rest_z + obj.grasp_z])
        if kind == "reach":
            return _route(ee, np.array([grasp[0], grasp[1], CARRY_Z]), first_gripper=1.0)
        if kind == "grasp":
            return _route(ee, grasp, first_gripper=1.0) + [ActionStep(gripper=0.0)]
        if kind == "lift":
            return _route(ee, ee + [0.0, 0.0, max(LIFT_M, CARRY_Z - ee[2])])
        dest_obj = get_object(scene.destination)
        dest = np.asarray(poses[scene.destination]["position"], float)
        if kind == "carry":
            # Keep the grasp offset: what goes over the receptacle's centre is the target, not the gripper.
            offset = target[:2] - ee[:2]
            return _route(ee, np.array([dest[0] - offset[0], dest[1] - offset[1], max(ee[2], CARRY_Z)]))
        if kind == "place":
            bottom = target[2] - obj.rest_z  # the held object's lowest point (its frame rests at rest_z)
            surface = dest[2] - dest_obj.rest_z + _top(dest_obj)
            return _route(ee, ee + [0.0, 0.0, surface + PLACE_CLEARANCE_M - bottom])
        if kind == "release":
            return [ActionStep(gripper=1.0), ActionStep(0.0, 0.0, RETREAT_M)]
        raise ValueError(f"unknown sub-task kind {kind!r}")


def _top(obj) -> float:
    """Height of a receptacle's highest point above the table (rim of a pot, top of a plate)."""
    return max(g.pos[2] + (g.size[-1] if g.type in ("box", "cylinder") else g.size[0]) for g in obj.geoms
               if g.collide and g.fromto is None)


def _route(start: np.ndarray, goal: np.ndarray, first_gripper: float | None = None) -> list[ActionStep]:
    """Straight to `goal`, but over CARRY_Z when travelling sideways low over the table; steps <= MAX_STEP_M."""
    points = [start]
    sideways = float(np.linalg.norm(goal[:2] - start[:2]))
    if sideways > 0.02 and min(start[2], goal[2]) < CARRY_Z - 1e-3:
        points += [np.array([start[0], start[1], max(start[2], CARRY_Z)]),
                   np.array([goal[0], goal[1], max(goal[2], CARRY_Z)])]
    points.append(goal)
    steps: list[ActionStep] = []
    for a, b in zip(points, points[1:], strict=False):
        d = b - a
        n = math.ceil(float(np.linalg.norm(d)) / MAX_STEP_M)
        steps += [ActionStep(*(d / n).tolist()) for _ in range(n)]
    if not steps:
        steps = [ActionStep()]
    if first_gripper is not None:
        s = steps[0]
        steps[0] = ActionStep(s.dx, s.dy, s.dz, first_gripper)
    return steps
