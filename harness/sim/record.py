"""Demonstrations from the simulator: scripted-oracle rollouts written as raw BridgeData V2 trajectories.

`record(robot, task, episodes, out, seed)` runs the oracle (`harness.sim.oracle`) on seeded scenes of a task and
writes every successful rollout with the release's files, through the one raw-layout writer
(`harness.data.fixture.write_raw_trajectory`), so `vlm2vla data build` reads it exactly as the real data:

    <out>/<task>/seed<S>/<RECORD_DATE>/collection_metadata.json
    <out>/<task>/seed<S>/<RECORD_DATE>/raw/traj_group<g>/traj<j>/
        obs_dict.pkl, policy_out.pkl, agent_data.pkl, lang.txt, images0/im_<t>.jpg, sim_scene.json
    <out>/<task>/seed<S>/record.json    (written last: the recording is complete)

Convention, as the real robot's: one row per control step at `RECORD_HZ` (5 Hz: the arm is given 0.2 s of simulated
time per step, and moves at most `STEP_M` per step, a teleoperator's pace); `full_state` is the reached end-effector
pose (xyz m in the base frame, +x forward, +y left, +z up; rpy rad; gripper opening 0..1), image t is the camera
frame of state t, `actions[t]` the commanded (7,) step taken from state t (gripper command 1 open / 0 closed).
The gripper acts before the arm moves in a step, as on the WidowX backend. The simulator has no observation
latency, so the dated directory is after the release's 2021-07-23 cut-off and the reader shifts nothing.

Objects and the seed split: each episode draws its target from `TRAINING_OBJECTS` (and, for pick-and-place, its
receptacle from `TRAINING_RECEPTACLES`) with the task's table area, spacing and distractor count; the toys of
`pickup-ash` never appear, so that task is a novel-object test. Scenes come from the trial schedule
(`harness.robot.schedule.scene_for`) under schedule seed `RECORD_SEED_BASE + seed`; evaluation
(`vlm2vla robot-trials`) uses each task's own `schedule_seed` (101, 303, ...), so recorded scenes are never
evaluation scenes, and a seed that would map onto a task's evaluation seed is refused.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from harness.actions import ActionParseError, ActionStep, VerbalizedCodec
from harness.data.dlan import read_examples
from harness.data.fixture import pose_matrix, write_raw_trajectory
from harness.data.render import jpeg_bytes
from harness.data.templates import parse_subtasks
from harness.policy.base import CycleOutput, Decision, Observation, SubtaskListPolicy
from harness.policy.validators import NoneValidator
from harness.records.atomic import atomic_dir, atomic_write_text
from harness.robot.backend import MotionCommand, SceneSetup
from harness.robot.envelope import Envelope, split_step
from harness.robot.runner import TrialResult, run_trial
from harness.robot.schedule import scene_for
from harness.sim.backend import SimBackend
from harness.sim.mjcf import FINGER_MAX, FINGER_MIN
from harness.sim.oracle import OraclePolicy
from harness.specs import RobotSpec, TaskSpec
from harness.specs.task import InstructionSpec

log = logging.getLogger(__name__)

RECORD_HZ = 5.0  # BridgeData V2's control rate
STEP_M = 0.015  # longest translation per 5 Hz step (teleoperated Bridge steps are ~1 cm)
RECORD_DATE = "2024-01-08_12-00-00"  # after the 2021-07-23 latency cut-off: the simulator has no latency
RECORD_SEED_BASE = 1_000_000  # recording schedule seed = base + seed; evaluation uses the tasks' schedule_seed
GROUP_SIZE = 10  # trajectories per traj_group (the unit `data build` shards and resumes by)
# Not the spoon: its 8 mm handle slips out of the closing pads (the oracle grasped it in 4 of 40 pickup episodes
# and 7 of 40 pick-and-place ones, against 0 failures on the other objects' pickups); it stays a distractor.
# Not the eggplant: 4.8 cm across the fingers' axis, wider than the open gripper (4.4 cm), so the oracle wedges it
# rather than grasps it, and whether it lets go on release depends on the arm's pace (a replay at the robot's 1 s
# steps kept it stuck between the open fingers). It stays a distractor.
TRAINING_OBJECTS = ("carrot", "corn", "banana", "sponge")
TRAINING_RECEPTACLES = {"pot": "in", "plate": "on"}
RECORD_VERSION = 2  # bump when what is written changes
DOWN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])  # gripper pointing down
MANIFEST = "record.json"
SCENE_FILE = "sim_scene.json"


def instruction_for(check: str, target: str, destination: str | None) -> str:
    """The training instruction of a recorded episode ("pick up the X" / "put the X in the Y")."""
    x = target.replace("-", " ")
    if check == "pickup":
        return f"pick up the {x}"
    return f"put the {x} {TRAINING_RECEPTACLES[destination]} the {destination.replace('-', ' ')}"


def record_schedule_seed(seed: int, tasks: list[TaskSpec] | None = None) -> int:
    """The schedule seed of recording seed `seed`; refuses one that is an evaluation seed of a task."""
    schedule = RECORD_SEED_BASE + int(seed)
    for t in tasks or []:
        if t.schedule_seed == schedule:
            raise ValueError(f"recording seed {seed} gives schedule seed {schedule}, which task {t.name!r} uses for "
                             "evaluation (its schedule_seed); choose another --seed")
    return schedule


def episode_scene(task: TaskSpec, index: int, seed: int = 0) -> SceneSetup:
    """Scene and instruction of recorded episode `index`: a training target (and receptacle) on the task's table."""
    rng = np.random.default_rng([RECORD_SEED_BASE + seed, index, 7])
    target = TRAINING_OBJECTS[int(rng.integers(len(TRAINING_OBJECTS)))]
    destination = None
    if task.success_check != "pickup":
        destination = sorted(TRAINING_RECEPTACLES)[int(rng.integers(len(TRAINING_RECEPTACLES)))]
    text = instruction_for(task.success_check, target, destination)
    pool = [o for o in TRAINING_OBJECTS if o != target]
    episode_task = dataclasses.replace(
        task, target=target, destination=destination, objects=[target, *([destination] if destination else [])],
        distractors=pool, instructions=[InstructionSpec(text, "en")],
        variation=dataclasses.replace(task.variation,
                                      distractors_per_trial=min(task.variation.distractors_per_trial, len(pool))))
    return scene_for(episode_task, index, RECORD_SEED_BASE + seed)


def _recording_specs(robot: RobotSpec, task: TaskSpec) -> tuple[RobotSpec, TaskSpec]:
    """The robot at 5 Hz, and one task holding every object an episode may use (the scene compiles once)."""
    if task.success_check not in ("pickup", "pick_place"):
        raise ValueError(f"task {task.name!r}: the recorder writes pickup and pick_place demonstrations; "
                         f"success_check {task.success_check!r} is not one of them")
    fast = dataclasses.replace(robot, moving_time_s=1.0 / RECORD_HZ)
    names = list(TRAINING_OBJECTS) + (list(TRAINING_RECEPTACLES) if task.success_check != "pickup" else [])
    union = dataclasses.replace(task, objects=[], distractors=[n for n in names if n not in
                                                               (task.target, task.destination)])
    return fast, union


def _rpy(r: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw (inverse of `pose_matrix`'s Rz Ry Rx) of the rotation relative to the gripper-down pose,
    as Bridge's controller reports it: ~0 for the pose every Bridge policy learnt from, and far from gimbal lock."""
    rel = np.asarray(r, float) @ DOWN.T
    pitch = math.asin(max(-1.0, min(1.0, -float(rel[2, 0]))))
    return np.array([math.atan2(float(rel[2, 1]), float(rel[2, 2])), pitch,
                     math.atan2(float(rel[1, 0]), float(rel[0, 0]))])


class _Tape:
    """What one rollout leaves: a row per state, a command per step, a JPEG per state."""

    def __init__(self, backend: SimBackend):
        self.backend = backend
        self.states: list[np.ndarray] = []
        self.desired: list[np.ndarray] = []
        self.qpos: list[np.ndarray] = []
        self.times: list[float] = []
        self.actions: list[np.ndarray] = []
        self.jpegs: list[bytes] = []
        self.commanded = backend.ee_position()
        self.gripper = 1.0
        self.snap()

    def snap(self) -> None:
        b = self.backend
        opening = b.finger_opening() / (2 * (FINGER_MAX - FINGER_MIN))
        state = np.concatenate([b.ee_position(), _rpy(b.ee_rotation()), [opening]])
        self.states.append(state)
        self.desired.append(np.concatenate([self.commanded, state[3:6], [self.gripper]]))
        self.qpos.append(b.joint_positions())
        self.times.append(float(b.data.time))
        self.jpegs.append(jpeg_bytes(Image.fromarray(b.render())))

    def step(self, command: MotionCommand) -> bool:
        result = self.backend.move(command)
        if not result.executed:
            return False
        self.commanded = self.commanded + [command.dx, command.dy, command.dz]
        if command.gripper is not None:
            self.gripper = float(command.gripper)
        self.actions.append(np.array([command.dx, command.dy, command.dz, 0.0, 0.0, 0.0, self.gripper]))
        self.snap()
        return True


def rollout(backend: SimBackend, scene: SceneSetup, cycle_budget: int) -> tuple[_Tape, bool]:
    """The oracle on `scene`, one 5 Hz step at a time; returns the tape and the detector's verdict."""
    obs = backend.reset(scene)
    policy = OraclePolicy(backend)
    policy.start(scene.instruction, obs)
    tape = _Tape(backend)
    cycles = 0
    while not policy.done and cycles < cycle_budget:
        cycles += 1
        out = policy.act(obs)
        if out.chunk is None:  # pragma: no cover - the oracle's text always decodes
            return tape, False
        for chunk_step in out.chunk:
            for command in _gripper_first(split_step(chunk_step, STEP_M), tape.gripper):
                if not tape.step(command):
                    return tape, False
        obs = backend.observe()
        policy.advance(Decision("proceed"))
    return tape, bool(backend.success())


def _gripper_first(steps: list[ActionStep], gripper: float) -> Iterator[MotionCommand]:
    """Motion commands of the sub-steps, a gripper change recorded as its own step before the motion: the WidowX
    backend acts on the gripper before it moves, and a recorded row must mean what it will do on replay.
    `gripper` is the state before the first sub-step (an unchanged gripper is not a change)."""
    for c in steps:
        changes = c.gripper is not None and c.gripper != gripper
        if changes and (c.dx, c.dy, c.dz) != (0.0, 0.0, 0.0):
            yield MotionCommand(0.0, 0.0, 0.0, c.gripper)
            yield MotionCommand(c.dx, c.dy, c.dz, None)
        else:
            yield MotionCommand(c.dx, c.dy, c.dz, c.gripper if changes else None)
        gripper = c.gripper if c.gripper is not None else gripper


def _obs_dict(tape: _Tape, date: str) -> dict:
    full_state = np.array(tape.states, dtype=np.float64)
    qpos = np.array(tape.qpos, dtype=np.float64)
    start = datetime.strptime(date, "%Y-%m-%d_%H-%M-%S").replace(tzinfo=UTC).timestamp()
    return {
        "full_state": full_state,
        "state": full_state.copy(),
        "desired_state": np.array(tape.desired, dtype=np.float64),
        "qpos": qpos,
        "qvel": np.gradient(qpos, axis=0) * RECORD_HZ if len(qpos) > 1 else np.zeros_like(qpos),
        "eef_transform": np.stack([pose_matrix(s[:3], s[3:6]) for s in full_state]),
        "high_bound": np.array([0.45, 0.25, 0.30, 1.57, 1.57]),
        "low_bound": np.array([0.10, -0.20, -0.01, -1.57, -1.57]),
        "env_done": np.zeros(len(full_state), dtype=bool),
        "time_stamp": [start + t for t in tape.times],
    }


def _session_dir(out: Path, task: TaskSpec, seed: int) -> Path:
    return out / task.name / f"seed{seed}"


def traj_dir(out: Path, task: TaskSpec, seed: int, index: int) -> Path:
    """Where episode `index` of a recording lives."""
    return (_session_dir(out, task, seed) / RECORD_DATE / "raw" / f"traj_group{index // GROUP_SIZE}"
            / f"traj{index % GROUP_SIZE}")


def record(robot: RobotSpec, task: TaskSpec, episodes: int, out: str | Path, seed: int = 0,
           progress: Callable[[dict], None] | None = None, evaluation_tasks: list[TaskSpec] | None = None) -> dict:
    """Record `episodes` oracle episodes of `task` under `out`; returns the manifest (also `record.json`).

    Resumable: each trajectory is written under a temporary name and renamed when complete; a re-run keeps the
    trajectories already there and records the rest. A complete recording with the same parameters is returned
    as it is. An episode the oracle fails is not written (listed under `failed`)."""
    if episodes < 1:
        raise ValueError(f"need episodes >= 1, got {episodes}")
    out = Path(out)
    session = _session_dir(out, task, seed)
    marker = session / MANIFEST
    params = {"version": RECORD_VERSION, "task": task.name, "seed": seed, "episodes": episodes,
              "robot": robot.name, "camera": [robot.camera.width, robot.camera.height]}
    if marker.exists():
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            previous = {}
        if {k: previous.get(k) for k in params} == params:
            return previous
        marker.unlink()  # first: a recording changed midway must not look complete
    record_schedule_seed(seed, evaluation_tasks)
    fast, union = _recording_specs(robot, task)
    dated = session / RECORD_DATE
    dated.mkdir(parents=True, exist_ok=True)
    meta = dated / "collection_metadata.json"
    if not meta.exists():
        meta.write_text(json.dumps({"robot": "widowx_sim", "camera_types": ["sim_third_person"],
                                    "environment": f"mujoco_{task.name}", "date": RECORD_DATE}, indent=1))
    rows, failed = [], []
    with SimBackend(fast, union) as backend:
        for i in range(episodes):
            final = traj_dir(out, task, seed, i)
            scene = episode_scene(task, i, seed)
            row = _kept(final, scene)
            if row is None:
                tape, success = rollout(backend, scene, task.cycle_budget)
                row = {"episode_id": final.relative_to(out).as_posix(), "index": i, "success": success,
                       "steps": len(tape.actions), "scene": dataclasses.asdict(scene)}
                if success:
                    with atomic_dir(final, keep_suffix=True) as tmp:  # `.tmp-trajN`: no `traj*` reader sees it
                        write_raw_trajectory(tmp, _obs_dict(tape, RECORD_DATE), tape.actions, scene.instruction,
                                             tape.jpegs, "SimOraclePolicy")
                        (tmp / SCENE_FILE).write_text(json.dumps(row, indent=1))
            (rows if row["success"] else failed).append(row)
            if progress is not None:
                progress(row)
    manifest = {**params, "date": RECORD_DATE, "hz": RECORD_HZ, "schedule_seed": RECORD_SEED_BASE + seed,
                "recorded": len(rows), "failed": [r["index"] for r in failed], "trajectories": rows}
    atomic_write_text(marker, json.dumps(manifest, indent=1))
    return manifest


def _kept(final: Path, scene: SceneSetup) -> dict | None:
    """The row of a trajectory already recorded for this episode's scene; None (and the stale trajectory removed)
    when there is none or it shows another scene (the recorder's scene draw changed since it was written)."""
    if not (final / SCENE_FILE).exists():
        return None
    row = json.loads((final / SCENE_FILE).read_text())
    if row.get("scene") == json.loads(json.dumps(dataclasses.asdict(scene))):
        return row
    log.warning("sim record: %s shows another scene than this recorder draws for it; recording it again", final)
    shutil.rmtree(final)
    return None


# ---------------------------------------------------------------------------------------------------- round trip
class DlanReplayPolicy(SubtaskListPolicy):
    """Replays one episode's D_lan rows as if a model had written them: the sub-task list from the `subtasks`
    target, then per sub-task the `plan` and `action` targets, decoded by the verbalized codec. The check that the
    chain data -> templates -> codec -> robot loses nothing: a perfect model of the data is this policy."""

    name = "dlan-replay"

    def __init__(self, rows: list, codec: VerbalizedCodec | None = None):
        self.codec = codec or VerbalizedCodec()
        by_stage: dict[str, list] = {}
        for r in rows:
            by_stage.setdefault(r.stage, []).append(r)
        (head,) = by_stage["subtasks"]
        self.subtasks = parse_subtasks(head.target)
        self.plans = {r.step_index: r.target for r in by_stage.get("plan", [])}
        self.actions = {r.step_index: r.target for r in by_stage.get("action", [])}
        self._index = 0

    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        self._index = 0
        return list(self.subtasks)

    def act(self, observation: Observation) -> CycleOutput:
        text = self.actions[self._index]
        try:
            chunk, error = self.codec.decode(text), None
        except ActionParseError as e:
            chunk, error = None, str(e)
        return CycleOutput(self.current_subtask, self.plans.get(self._index, ""), text, chunk, error)

    def advance(self, decision: Decision) -> None:
        if decision.action == "proceed":
            self._index += 1


def replay_episode(robot: RobotSpec, task: TaskSpec, source: str | Path, dlan: str | Path, episode_id: str,
                   out_dir: str | Path) -> tuple[TrialResult, bool]:
    """Replay a recorded episode's D_lan targets in its own scene through the robot trial runner (the envelope,
    the split into sub-steps, `SimBackend` at the robot spec's pace) with no validator; returns the runner's
    result and the detector's verdict."""
    scene = SceneSetup(**json.loads((Path(source) / episode_id / SCENE_FILE).read_text())["scene"])
    rows = [r for r in read_examples(dlan) if r.episode_id == episode_id]
    if not rows:
        raise ValueError(f"{dlan}: no D_lan rows of episode {episode_id!r} (built from {source}?)")
    _, union = _recording_specs(robot, task)
    with SimBackend(robot, union) as backend:
        result = run_trial(DlanReplayPolicy(rows), backend, NoneValidator(), Envelope(robot), union, scene,
                           Path(out_dir), tuple(robot.start_ee))
        return result, bool(backend.success())
