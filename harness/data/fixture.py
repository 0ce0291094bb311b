"""A small synthetic dataset in exactly the raw BridgeData V2 layout, for tests and the demo.

The real release (~60k trajectories, hundreds of GB) cannot be downloaded here, so `vlm2vla data fixture` writes
scripted pick-up and pick-and-place trajectories with the release's files, keys and shapes:

    <out>/bridge_data_v2/<scene>/<task>/00/<YYYY-MM-DD_HH-MM-SS>/
        collection_metadata.json
        raw/traj_group<k>/traj<j>/{obs_dict.pkl, policy_out.pkl, agent_data.pkl, lang.txt, images0/im_<t>.jpg}

States, actions, images and instructions agree: the commanded translation is the reached motion plus operator noise
(so relabelling from states matters), the gripper command passes through in-between values while it moves, sessions
dated before 2021-07-23 carry the one-step latency (a stale first observation and a spare last action), and some
trajectories start with an all-zero action. `--corrupt K` adds K broken trajectories (truncated pickle, missing
image, no instruction, length mismatch, truncated JPEG, missing policy file) beside the good ones.

`<out>/fixture.json` (outside the raw tree, ignored by the reader) records the ground truth of every trajectory:
the clean states and gripper per step, the quirks applied and the corruption, so tests can check the reader.
Deterministic given the seed.
"""

from __future__ import annotations

import json
import math
import pickle
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harness.data.render import SceneObject, background, frame, jpeg_bytes
from harness.records.atomic import atomic_write_text

GRASPABLE = [
    SceneObject("carrot", "ellipse", (236, 120, 40), 0.075),
    SceneObject("red block", "box", (200, 40, 40), 0.045),
    SceneObject("yellow sponge", "box", (236, 210, 60), 0.06),
    SceneObject("eggplant", "ellipse", (110, 50, 140), 0.08),
    SceneObject("spoon", "bar", (190, 190, 200), 0.09),
    SceneObject("green cup", "box", (60, 160, 80), 0.05),
]
RECEPTACLES = [
    SceneObject("pot", "ring", (150, 150, 160), 0.13, receptacle="in"),
    SceneObject("bowl", "ring", (235, 235, 240), 0.11, receptacle="in"),
    SceneObject("plate", "disc", (225, 225, 215), 0.11, receptacle="on"),
    SceneObject("towel", "disc", (80, 170, 190), 0.12, receptacle="on"),
]
SCENES = ["toykitchen1", "toykitchen2", "tabletop_light_wood", "toysink3"]
DATES_BEFORE = ["2021-06-03_14-20-11", "2021-06-29_10-05-42", "2021-07-14_16-31-09"]  # latency quirk
DATES_AFTER = ["2021-08-02_11-12-13", "2021-11-19_09-45-30", "2022-03-07_15-02-58"]
CORRUPTIONS = ["bad_pickle", "missing_images", "no_instruction", "length_mismatch", "corrupt_image", "missing_file"]
PICK_TEMPLATES = ["pick up the {x}", "pick the {x} up", "lift the {x}", "grab the {x}"]
PLACE_TEMPLATES = {
    "in": ["put the {x} in the {y}", "place the {x} in the {y}", "put the {x} into the {y}", "move the {x} to the {y}"],
    "on": ["put the {x} on the {y}", "place the {x} on top of the {y}", "move the {x} onto the {y}"],
}
TRAJS_PER_GROUP = 3
FIXTURE_VERSION = 1  # bump when the generated data changes
START = np.array([0.30, -0.09, 0.26])
Z_HOVER, Z_GRASP, Z_LIFT, Z_PLACE, Z_RETREAT = 0.09, 0.03, 0.15, 0.07, 0.14


@dataclass
class _Session:
    scene: str
    task: str  # directory name, e.g. put_carrot_in_pot
    date: str
    kind: str  # pick | place
    target: SceneObject
    destination: SceneObject | None


@dataclass
class _Trajectory:
    states: np.ndarray  # (n+1, 3) reached xyz
    gripper: np.ndarray  # (n,) 1 open / 0 closed during each step
    commands: np.ndarray  # (n,) commanded gripper (with in-between values while it moves)


def _sessions(n_groups: int, rng: np.random.Generator) -> list[_Session]:
    sessions = []
    for i in range(n_groups):
        kind = "pick" if i % 3 == 0 else "place"
        target = GRASPABLE[int(rng.integers(len(GRASPABLE)))]
        dest = RECEPTACLES[int(rng.integers(len(RECEPTACLES)))] if kind == "place" else None
        task = (f"pick_up_{target.name}" if dest is None else f"put_{target.name}_{dest.receptacle}_{dest.name}")
        dates = DATES_BEFORE if i % 2 == 0 else DATES_AFTER  # both sides of the latency cut-off
        sessions.append(_Session(SCENES[i % len(SCENES)], task.replace(" ", "_"), dates[(i // 2) % len(dates)],
                                 kind, target, dest))
    return sessions


def _place_objects(session: _Session, rng: np.random.Generator) -> dict[str, tuple[SceneObject, tuple[float, float]]]:
    """Target, destination and one or two distractors at non-overlapping table positions."""
    wanted = [session.target] + ([session.destination] if session.destination else [])
    pool = [o for o in GRASPABLE + RECEPTACLES if o not in wanted]
    wanted += [pool[int(i)] for i in rng.choice(len(pool), size=int(rng.integers(1, 3)), replace=False)]
    placed: dict[str, tuple[SceneObject, tuple[float, float]]] = {}
    for obj in wanted:
        for _ in range(200):
            pos = (float(rng.uniform(0.18, 0.40)), float(rng.uniform(-0.17, 0.21)))
            if all(math.dist(pos, p) > (obj.size + o.size) / 2 + 0.02 for o, p in placed.values()):
                break
        placed[obj.name] = (obj, pos)
    return placed


def _move(states: list[np.ndarray], grip: list[float], target: np.ndarray, g: float,
          rng: np.random.Generator) -> None:
    """Teleoperated motion towards `target`: 0.9-1.4 cm per step with a little sideways wobble."""
    for _ in range(200):
        here = states[-1]
        gap = target - here
        dist = float(np.linalg.norm(gap))
        if dist < 0.004:
            return
        speed = float(rng.uniform(0.009, 0.014))
        step = gap if dist <= speed * 1.3 else gap / dist * speed
        wobble = rng.normal(0.0, 0.0008, 3) * (dist > speed * 1.3)
        states.append(here + step + wobble)
        grip.append(g)


def _hold(states: list[np.ndarray], grip: list[float], g: float, steps: int, rng: np.random.Generator) -> None:
    for _ in range(steps):
        states.append(states[-1] + rng.normal(0.0, 0.0004, 3))
        grip.append(g)


def _trajectory(session: _Session, objects: dict, rng: np.random.Generator) -> _Trajectory:
    obj_xy = np.array(objects[session.target.name][1])
    states = [START + np.array([rng.uniform(-0.02, 0.02), rng.uniform(-0.03, 0.03), rng.uniform(-0.02, 0.02)])]
    grip: list[float] = []
    _move(states, grip, np.array([*obj_xy, Z_HOVER]), 1.0, rng)
    _move(states, grip, np.array([*obj_xy, Z_GRASP]), 1.0, rng)
    _hold(states, grip, 0.0, 2, rng)  # close the gripper
    _move(states, grip, np.array([*obj_xy, Z_LIFT]), 0.0, rng)
    if session.destination is not None:
        dest_xy = np.array(objects[session.destination.name][1])
        _move(states, grip, np.array([*dest_xy, Z_LIFT]), 0.0, rng)
        _move(states, grip, np.array([*dest_xy, Z_PLACE]), 0.0, rng)
        _hold(states, grip, 1.0, 2, rng)  # open
        _move(states, grip, np.array([*dest_xy, Z_RETREAT]), 1.0, rng)
    else:
        _hold(states, grip, 0.0, 1, rng)
    g = np.array(grip)
    commands = g.copy()
    for t in range(len(g)):  # the command passes through in-between values when it changes
        if t == 0 or g[t] != g[t - 1]:
            commands[t] = float(rng.uniform(0.2, 0.8)) if t else g[t]
        else:
            commands[t] = g[t] + (-1 if g[t] else 1) * float(rng.uniform(0.0, 0.03))
    return _Trajectory(np.array(states), g, commands)


def pose_matrix(xyz: np.ndarray, rpy: np.ndarray) -> np.ndarray:
    """4x4 homogeneous pose from a position and roll/pitch/yaw (R = Rz(yaw) Ry(pitch) Rx(roll), as full_state)."""
    cr, sr, cp, sp, cy, sy = (math.cos(rpy[0]), math.sin(rpy[0]), math.cos(rpy[1]), math.sin(rpy[1]),
                              math.cos(rpy[2]), math.sin(rpy[2]))
    m = np.eye(4)
    m[:3, :3] = [[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                 [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                 [-sp, cp * sr, cp * cr]]
    m[:3, 3] = xyz
    return m


def write_raw_trajectory(traj_dir: Path, obs_dict: dict, actions: Sequence[np.ndarray], instruction: str,
                         images: Iterable[bytes], policy_type: str) -> None:
    """Write one trajectory directory with the release's files: obs_dict.pkl, policy_out.pkl, agent_data.pkl,
    lang.txt and images0/im_{t}.jpg (one JPEG per row of `obs_dict['full_state']`, consumed lazily).

    The one writer of the raw layout: the synthetic fixture and the simulator's recorder both go through it, so
    what they write cannot drift from each other or from what `harness.data.bridge` reads. `actions` are the T-1
    commanded (7,) rows; the policy's transforms are derived from the states and the commands, as the release's."""
    full_state = obs_dict["full_state"]
    policy_out = []
    for t, c in enumerate(actions):
        before = pose_matrix(full_state[t, :3], full_state[t, 3:6])
        after = pose_matrix(full_state[t, :3] + c[:3], full_state[t, 3:6] + c[3:6])
        policy_out.append({"actions": np.array(c, dtype=np.float64), "new_robot_transform": after,
                           "delta_robot_transform": np.linalg.inv(before) @ after, "policy_type": policy_type})
    traj_dir.mkdir(parents=True, exist_ok=True)
    with open(traj_dir / "obs_dict.pkl", "wb") as f:
        pickle.dump(obs_dict, f)
    with open(traj_dir / "policy_out.pkl", "wb") as f:
        pickle.dump(policy_out, f)
    with open(traj_dir / "agent_data.pkl", "wb") as f:
        pickle.dump({"traj_ok": True, "term_t": len(full_state) - 1, "stats": {}}, f)
    (traj_dir / "lang.txt").write_text(f"{instruction}\nconfidence: 1\n")
    folder = traj_dir / "images0"
    folder.mkdir(exist_ok=True)
    for t, jpeg in enumerate(images):
        (folder / f"im_{t}.jpg").write_bytes(jpeg)


def _write_episode(traj_dir: Path, session: _Session, instruction: str, objects: dict, traj: _Trajectory,
                   latency: bool, zero_first: bool, rng: np.random.Generator) -> None:
    """Write one trajectory with the release's files; quirks are added to the clean trajectory here."""
    xyz = list(traj.states)
    cmds = [np.concatenate([traj.states[t + 1] - traj.states[t], [0.0, 0.0, 0.0], [traj.commands[t]]])
            for t in range(len(traj.gripper))]
    # What the operator commanded: the reached motion, over-shot by ~10 % plus noise (relabelling undoes this).
    for c in cmds:
        c[:3] = c[:3] * rng.uniform(1.05, 1.2) + rng.normal(0.0, 0.002, 3)
        c[3:6] = rng.normal(0.0, 0.01, 3)
    open_at = [1.0] + [float(g) for g in traj.gripper]  # gripper state shown in image t
    if zero_first:  # an all-zero first command: the arm does not move
        xyz.insert(0, xyz[0].copy())
        cmds.insert(0, np.zeros(7))
        open_at.insert(0, 1.0)
    if latency:  # a stale first observation and a spare last command
        xyz.insert(0, xyz[0] + np.array([0.0, 0.0, 0.015]))
        cmds.append(np.concatenate([rng.normal(0.0, 0.003, 3), rng.normal(0.0, 0.01, 3), [cmds[-1][6]]]))
        open_at.insert(0, 1.0)
    T = len(xyz)
    assert len(cmds) == T - 1 and len(open_at) == T

    rpy = np.array([-0.05, 0.1, 0.0]) + np.cumsum(rng.normal(0.0, 0.002, (T, 3)), axis=0)
    grip_reading = np.array([1.0 if o else 0.28 for o in open_at])
    full_state = np.concatenate([np.array(xyz), rpy, grip_reading[:, None]], axis=1).astype(np.float64)
    start = datetime.strptime(session.date, "%Y-%m-%d_%H-%M-%S").replace(tzinfo=UTC).timestamp()
    stamps = [start + 60.0 * int(traj_dir.name[4:]) + 0.2 * t for t in range(T)]
    qpos = rng.normal(0.0, 0.3, (T, 6))
    obs_dict = {
        "full_state": full_state,
        "state": full_state.copy(),
        "desired_state": full_state + rng.normal(0.0, 0.001, full_state.shape),
        "qpos": qpos,
        "qvel": np.gradient(qpos, axis=0) * 5.0,
        "joint_effort": rng.normal(0.0, 0.1, (T, 7)),
        "eef_transform": np.stack([pose_matrix(full_state[t, :3], full_state[t, 3:6]) for t in range(T)]),
        "high_bound": np.array([0.45, 0.25, 0.30, 1.57, 1.57]),
        "low_bound": np.array([0.10, -0.20, -0.01, -1.57, -1.57]),
        "env_done": np.zeros(T, dtype=bool),
        "t_get_obs": np.full(T, 0.015),
        "time_stamp": stamps,
    }
    write_raw_trajectory(traj_dir, obs_dict, cmds, instruction,
                         _images(session, objects, xyz, open_at), "VRTeleopPolicy")


def _images(session: _Session, objects: dict, xyz: list[np.ndarray], open_at: list[float]) -> Iterator[bytes]:
    """The camera frames of one trajectory: the target rests, rides in the gripper, then rests where released."""
    target = session.target
    resting = {k: v for k, v in objects.items() if k != target.name}
    base_free = background(resting)
    base_full = background(objects)
    held_since, released_at = None, None
    base_done = base_full
    for t in range(len(xyz)):
        closed = not open_at[t]
        if closed and held_since is None:
            held_since = t
        if held_since is not None and not closed and released_at is None:
            released_at = t
        if held_since is not None and released_at is None:
            img = frame(base_free, tuple(xyz[t]), False, held=target)
        elif released_at is not None:
            moved = dict(resting, **{target.name: (target, (float(xyz[released_at][0]), float(xyz[released_at][1])))})
            if t == released_at:
                base_done = background(moved)
            img = frame(base_done, tuple(xyz[t]), True)
        else:
            img = frame(base_full, tuple(xyz[t]), not closed)
        yield jpeg_bytes(img)


def _corrupt(traj_dir: Path, kind: str) -> None:
    if kind == "bad_pickle":
        data = (traj_dir / "obs_dict.pkl").read_bytes()
        (traj_dir / "obs_dict.pkl").write_bytes(data[: len(data) * 2 // 5])
    elif kind == "missing_images":
        count = len(list((traj_dir / "images0").glob("im_*.jpg")))
        (traj_dir / "images0" / f"im_{count // 2}.jpg").unlink()
    elif kind == "no_instruction":
        (traj_dir / "lang.txt").write_text("confidence: 1\n")
    elif kind == "length_mismatch":
        with open(traj_dir / "policy_out.pkl", "rb") as f:
            policy_out = pickle.load(f)
        with open(traj_dir / "policy_out.pkl", "wb") as f:
            pickle.dump(policy_out[:-3], f)
    elif kind == "corrupt_image":
        path = traj_dir / "images0" / "im_3.jpg"
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "missing_file":
        (traj_dir / "policy_out.pkl").unlink()
    else:  # pragma: no cover - CORRUPTIONS is closed
        raise ValueError(kind)


def write_fixture(out: str | Path, episodes: int = 24, corrupt: int = 0, seed: int = 0, force: bool = False) -> dict:
    """Write `episodes` good and `corrupt` broken trajectories under `out`; return the ground truth (fixture.json).

    Idempotent: an existing fixture with the same parameters is kept as it is (unless `force`), so its files keep
    their times and an incremental build over it has nothing to redo."""
    if episodes < 1 or corrupt < 0:
        raise ValueError(f"need episodes >= 1 and corrupt >= 0, got episodes={episodes}, corrupt={corrupt}")
    out = Path(out)
    marker = out / "fixture.json"
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise FileExistsError(f"{out} is not empty and holds no fixture.json; choose an empty --out directory")
        try:
            previous = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            previous = {}
        if not force and [previous.get(k) for k in ("seed", "episodes", "corrupt", "version")] == [
                seed, episodes, corrupt, FIXTURE_VERSION]:
            return previous  # already there (fixture.json is written last, so it is complete)
        marker.unlink()  # first: a rewrite killed midway must not look complete
        shutil.rmtree(out / "bridge_data_v2", ignore_errors=True)
    root = out / "bridge_data_v2"
    rng = np.random.default_rng(seed)
    n_groups = math.ceil(episodes / TRAJS_PER_GROUP)
    sessions = _sessions(n_groups, rng)
    truth: list[dict] = []
    group_dirs = []
    for i in range(episodes):
        g = i // TRAJS_PER_GROUP
        s = sessions[g]
        session_dir = root / s.scene / s.task / "00" / s.date
        group_dir = session_dir / "raw" / f"traj_group{g % 2}"
        if group_dir not in group_dirs:
            group_dirs.append(group_dir)
            session_dir.mkdir(parents=True, exist_ok=True)
            (session_dir / "collection_metadata.json").write_text(json.dumps(
                {"robot": "widowx", "camera_types": ["C920"], "environment": s.scene, "date": s.date}, indent=1))
        ep_rng = np.random.default_rng([seed, i])
        objects = _place_objects(s, ep_rng)
        traj = _trajectory(s, objects, ep_rng)
        if s.destination is None:
            template = PICK_TEMPLATES[int(ep_rng.integers(len(PICK_TEMPLATES)))]
        else:
            options = PLACE_TEMPLATES[s.destination.receptacle]
            template = options[int(ep_rng.integers(len(options)))]
        instruction = template.format(x=s.target.name, y=s.destination.name if s.destination else "")
        latency = s.date < "2021-07-23"
        zero_first = bool(ep_rng.random() < 0.3)
        traj_dir = group_dir / f"traj{i % TRAJS_PER_GROUP}"
        _write_episode(traj_dir, s, instruction, objects, traj, latency, zero_first, ep_rng)
        truth.append({
            "episode_id": traj_dir.relative_to(out).as_posix(), "instruction": instruction, "kind": s.kind,
            "target": s.target.name, "destination": s.destination.name if s.destination else None,
            "relation": s.destination.receptacle if s.destination else None, "date": s.date, "latency": latency,
            "zero_first": zero_first, "corrupt": None,
            "states": np.round(traj.states, 9).tolist(), "gripper": traj.gripper.tolist(),
        })
    for k in range(corrupt):  # broken trajectories sit beside good ones in existing groups
        kind = CORRUPTIONS[k % len(CORRUPTIONS)]
        group_dir = group_dirs[k % len(group_dirs)]
        j = len([p for p in group_dir.iterdir() if p.name.startswith("traj")])
        traj_dir = group_dir / f"traj{j}"
        s = next(x for x in sessions if f"/{x.task}/" in group_dir.as_posix())
        ep_rng = np.random.default_rng([seed, 10_000 + k])
        objects = _place_objects(s, ep_rng)
        traj = _trajectory(s, objects, ep_rng)
        _write_episode(traj_dir, s, f"pick up the {s.target.name}", objects, traj, s.date < "2021-07-23", False,
                       ep_rng)
        _corrupt(traj_dir, kind)
        truth.append({"episode_id": traj_dir.relative_to(out).as_posix(), "corrupt": kind, "date": s.date})
    manifest = {"version": FIXTURE_VERSION, "seed": seed, "episodes": episodes, "corrupt": corrupt,
                "root": "bridge_data_v2", "trajectories": truth}
    atomic_write_text(marker, json.dumps(manifest))
    return manifest
