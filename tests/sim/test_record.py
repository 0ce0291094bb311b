"""The simulator's recorder: its output is read by the real Bridge reader, and a recorded episode survives the
whole chain (raw -> `vlm2vla data build` -> verbalized targets -> codec -> envelope -> SimBackend) to the same
success as the oracle that recorded it."""

from __future__ import annotations

import json
import pickle
import re
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.actions import ActionStep
from harness.cli.main import app
from harness.data.bridge import iter_episodes, read_episode
from harness.data.dlan import read_examples
from harness.robot.schedule import scene_for
from harness.sim.record import (
    RECORD_DATE,
    RECORD_HZ,
    RECORD_SEED_BASE,
    STEP_M,
    TRAINING_OBJECTS,
    _gripper_first,
    episode_scene,
    record,
    record_schedule_seed,
    replay_episode,
    traj_dir,
)
from harness.specs import list_specs, load_task

runner = CliRunner()


@pytest.fixture(scope="module")
def pickup_recording(tmp_path_factory, robot):
    """One recorded pickup episode (small camera) and its D_lan, built by the user's command."""
    root = tmp_path_factory.mktemp("rec")
    raw, dlan = root / "raw", root / "dlan"
    manifest = record(robot, load_task("pickup"), 1, raw, seed=3)
    r = runner.invoke(app, ["data", "build", "--source", str(raw), "--out", str(dlan), "--no-progress"])
    assert r.exit_code == 0, r.output
    return raw, dlan, manifest


def test_recording_reads_like_the_release(pickup_recording, robot):
    raw, _, manifest = pickup_recording
    assert manifest["recorded"] == 1 and manifest["failed"] == []
    (row,) = manifest["trajectories"]
    path = raw / row["episode_id"]
    assert path == traj_dir(raw, load_task("pickup"), 3, 0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d", path.parents[2].name) and path.parents[1].name == "raw"
    for name in ("obs_dict.pkl", "policy_out.pkl", "agent_data.pkl", "lang.txt", "images0/im_0.jpg"):
        assert (path / name).exists(), name

    (ep,) = list(iter_episodes(raw))
    obs = pickle.loads((path / "obs_dict.pkl").read_bytes())
    commands = np.array([p["actions"] for p in pickle.loads((path / "policy_out.pkl").read_bytes())])
    states = obs["full_state"]
    assert states.shape[1] == 7 and commands.shape == (len(states) - 1, 7)
    # Dated directory: the date comes from it, after the latency cut-off, so nothing is shifted (no sim latency).
    assert (ep.date_source, ep.collected.isoformat(), ep.latency_shifted) == ("dir", RECORD_DATE[:10], False)
    assert np.allclose(ep.states[0], states[0]) and len(ep.image_paths) == len(ep.states)
    # Relabelled deltas: the reader's translation is what the arm reached, not what was commanded.
    assert np.allclose(ep.deltas[:, :3], np.diff(states[:, :3], axis=0))
    assert np.abs(ep.deltas[:, :3] - commands[:, :3]).max() > 1e-4
    assert np.abs(ep.deltas[:, :3] - commands[:, :3]).max() < 0.005  # ... and the arm follows its commands
    # The real robot's pace and frame: 5 Hz motion steps of a teleoperator's size, +z up to lift.
    steps = np.diff(obs["time_stamp"])
    moving = np.linalg.norm(commands[:, :3], axis=1) > 0
    assert np.allclose(steps[moving], 1 / RECORD_HZ) and np.linalg.norm(commands[:, :3], axis=1).max() <= STEP_M + 1e-9
    grip = ep.deltas[:, 3]
    closes = int(np.argmax(grip == 0))
    assert grip[0] == 1 and set(grip[closes:]) == {0.0} and ep.displacement(closes)[2] > 0.05
    assert ep.displacement(0, closes)[2] < 0  # down to the object first
    assert ep.instruction == f"pick up the {row['scene']['target']}" and row["scene"]["target"] in TRAINING_OBJECTS
    from PIL import Image
    assert Image.open(ep.image_paths[0]).size == (robot.camera.width, robot.camera.height)

    # The same files in a directory dated before the cut-off get the release's latency rule.
    old = raw.parent / "old"
    shutil.copytree(path, old / "2021-06-01_10-00-00" / "raw" / "traj_group0" / "traj0")
    shifted = read_episode(old / "2021-06-01_10-00-00" / "raw" / "traj_group0" / "traj0", old)
    assert shifted.latency_shifted and shifted.n_steps == ep.n_steps - 1


def test_round_trip_replays_to_the_oracles_success(pickup_recording, robot, tmp_path):
    raw, dlan, manifest = pickup_recording
    (row,) = manifest["trajectories"]
    actions = [r for r in read_examples(dlan, stage="action") if r.episode_id == row["episode_id"]]
    assert len(actions) >= 3 and any("close gripper" in r.target for r in actions)
    result, success = replay_episode(robot, load_task("pickup"), raw, dlan, row["episode_id"], tmp_path / "trial")
    assert success is row["success"] is True
    assert (result.stop_reason, result.parse_failures, result.ik_failures, result.envelope_rejected) == (
        "policy_done", 0, 0, 0)


@pytest.mark.slow
def test_round_trip_pick_and_place(robot, tmp_path):
    raw, dlan = tmp_path / "raw", tmp_path / "dlan"
    manifest = record(robot, load_task("pick-and-place"), 2, raw, seed=5)
    r = runner.invoke(app, ["data", "build", "--source", str(raw), "--out", str(dlan), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert manifest["recorded"] == 2
    for row in manifest["trajectories"]:
        assert re.fullmatch(r"put the \w+ (in the pot|on the plate)", row["scene"]["instruction"])
        _, success = replay_episode(robot, load_task("pick-and-place"), raw, dlan, row["episode_id"],
                                    tmp_path / row["episode_id"])
        assert success is True


def test_recording_resumes_and_keeps_what_is_there(robot, tmp_path):
    task = load_task("pickup")
    first = record(robot, task, 1, tmp_path, seed=0)
    path = tmp_path / first["trajectories"][0]["episode_id"]
    mtime = (path / "obs_dict.pkl").stat().st_mtime_ns
    (tmp_path / "pickup" / "seed0" / "record.json").unlink()  # as if killed before the end
    again = record(robot, task, 1, tmp_path, seed=0)
    assert (path / "obs_dict.pkl").stat().st_mtime_ns == mtime, "a complete trajectory is not recorded again"
    assert again["trajectories"] == json.loads(json.dumps(first["trajectories"]))  # read back from sim_scene.json


def test_a_trajectory_of_another_scene_is_recorded_again(robot, tmp_path, monkeypatch):
    """A recording resumed after the recorder's scene draw changed (e.g. its training objects) holds no stale scene."""
    task = load_task("pickup")
    first = record(robot, task, 1, tmp_path, seed=0)
    path = tmp_path / first["trajectories"][0]["episode_id"]
    (tmp_path / "pickup" / "seed0" / "record.json").unlink()
    target = first["trajectories"][0]["scene"]["target"]
    monkeypatch.setattr("harness.sim.record.TRAINING_OBJECTS", tuple(o for o in TRAINING_OBJECTS if o != target))
    again = record(robot, task, 1, tmp_path, seed=0)
    assert again["trajectories"][0]["scene"]["target"] != target
    assert json.loads((path / "sim_scene.json").read_text())["scene"]["target"] != target


def test_the_oracle_grasps_every_training_object(robot):
    """Each training target is recorded (the oracle succeeds on it); one it cannot grasp would leave a hole."""
    task = load_task("pickup")
    targets = {episode_scene(task, k, 0).target: k for k in range(40)}
    assert set(targets) == set(TRAINING_OBJECTS)
    from harness.sim.backend import SimBackend
    from harness.sim.record import _recording_specs, rollout

    fast, union = _recording_specs(robot, task)
    with SimBackend(fast, union) as backend:
        for name, k in sorted(targets.items()):
            assert rollout(backend, episode_scene(task, k, 0), task.cycle_budget)[1], name


def test_seed_split_keeps_evaluation_scenes_out():
    tasks = [load_task(s.name) for s in list_specs("tasks")]
    pickup = load_task("pickup")
    with pytest.raises(ValueError, match="uses for evaluation"):
        record_schedule_seed(pickup.schedule_seed - RECORD_SEED_BASE, tasks)
    evaluation = [scene_for(pickup, k).positions for k in range(30)]
    recorded = [episode_scene(pickup, k, 0) for k in range(30)]
    assert all(s.positions not in evaluation for s in recorded)
    assert {s.target for s in recorded} <= set(TRAINING_OBJECTS) and len({s.target for s in recorded}) > 3
    novel = load_task("pickup-ash")
    assert novel.target not in TRAINING_OBJECTS and all(novel.target not in s.positions for s in recorded)


def test_gripper_change_is_recorded_before_the_motion():
    steps = [ActionStep(0.01, 0.0, 0.0, 1.0), ActionStep(0.0, 0.0, 0.01, 0.0), ActionStep(0.0, 0.0, 0.01, 0.0)]
    commands = [(c.dx, c.dy, c.dz, c.gripper) for c in _gripper_first(steps, gripper=1.0)]
    assert commands == [(0.01, 0.0, 0.0, None), (0.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.01, None), (0.0, 0.0, 0.01, None)]


def test_record_command(tmp_path):
    r = runner.invoke(app, ["sim", "record", "--task", "pick-place-lift", "--episodes", "1", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "pickup and pick_place" in r.stderr
