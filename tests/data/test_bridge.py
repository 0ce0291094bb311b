"""The raw reader: the fixture has the release's layout, the quirks are undone, broken episodes are named."""

from __future__ import annotations

import pickle
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.bridge import (
    EpisodeError,
    binarize_gripper_commands,
    collection_date,
    fingerprint,
    iter_groups,
    read_episode,
    read_instruction,
)
from harness.specs.data import ReaderSpec
from tests.data.conftest import BROKEN, GOOD


def _good(truth):
    return [t for t in truth.values() if t["corrupt"] is None]


def test_fixture_has_the_release_layout(raw_fixture, truth):
    good = _good(truth)
    assert len(good) == GOOD and len(truth) == GOOD + BROKEN
    assert {t["latency"] for t in good} == {True, False}, "both sides of the 2021-07-23 cut-off"
    assert {t["kind"] for t in good} == {"pick", "place"}
    for t in good:
        traj = raw_fixture / t["episode_id"]
        parts = traj.relative_to(raw_fixture).parts
        # bridge_data_v2/<scene>/<task>/<session>/<YYYY-MM-DD_HH-MM-SS>/raw/traj_group<k>/traj<j>
        assert parts[0] == "bridge_data_v2" and parts[5] == "raw" and parts[6].startswith("traj_group")
        assert (traj.parents[2] / "collection_metadata.json").exists()
        with open(traj / "obs_dict.pkl", "rb") as f:
            obs = pickle.load(f)
        with open(traj / "policy_out.pkl", "rb") as f:
            policy = pickle.load(f)
        T = obs["full_state"].shape[0]
        assert obs["full_state"].shape == (T, 7) and obs["full_state"].dtype == np.float64
        assert len(obs["time_stamp"]) == T and obs["eef_transform"].shape == (T, 4, 4)
        assert obs["qpos"].shape == (T, 6) and obs["state"].shape == (T, 7)
        assert isinstance(policy, list) and len(policy) == T - 1
        assert set(policy[0]) == {"actions", "new_robot_transform", "delta_robot_transform", "policy_type"}
        assert policy[0]["actions"].shape == (7,) and policy[0]["new_robot_transform"].shape == (4, 4)
        lines = (traj / "lang.txt").read_text().splitlines()
        assert lines[0] == t["instruction"] and "confidence" in lines[1]
        images = sorted((traj / "images0").glob("im_*.jpg"))
        assert len(images) == T
        with Image.open(images[0]) as im:
            assert im.format == "JPEG" and im.size == (640, 480)
        assert (traj / "agent_data.pkl").exists()


def test_reader_recovers_the_clean_trajectory(raw_fixture, truth):
    for t in _good(truth):
        ep = read_episode(raw_fixture / t["episode_id"], raw_fixture)
        assert ep.episode_id == t["episode_id"] and ep.instruction == t["instruction"]
        assert ep.latency_shifted == t["latency"] and ep.dropped_zero_action == t["zero_first"]
        assert ep.date_source == "dir" and ep.collected == date.fromisoformat(t["date"][:10])
        np.testing.assert_allclose(ep.states[:, :3], np.array(t["states"]), atol=1e-8)
        np.testing.assert_array_equal(ep.deltas[:, 3], np.array(t["gripper"]))
        assert len(ep.image_paths) == len(ep.states) == ep.n_steps + 1


def test_without_the_latency_shift_the_episode_would_be_wrong(raw_fixture, truth):
    """Negative control: reading pre-cut-off data as if it had no latency misaligns states and gripper."""
    early = next(t for t in _good(truth) if t["latency"])
    wrong = read_episode(raw_fixture / early["episode_id"], raw_fixture, ReaderSpec(latency_cutoff="2000-01-01"))
    assert not wrong.latency_shifted
    assert len(wrong.states) != len(early["states"]) or not np.allclose(wrong.states[:, :3], early["states"])


def test_translation_is_relabelled_from_states_not_commands(raw_fixture, truth):
    t = _good(truth)[0]
    traj = raw_fixture / t["episode_id"]
    ep = read_episode(traj, raw_fixture)
    with open(traj / "policy_out.pkl", "rb") as f:
        commanded = np.array([p["actions"][:3] for p in pickle.load(f)])
    np.testing.assert_allclose(ep.deltas[:, :3], np.diff(ep.states[:, :3], axis=0))
    commanded = commanded[: len(commanded) - 1 if t["latency"] else None][1 if t["zero_first"] else 0 :]
    assert commanded.shape == ep.deltas[:, :3].shape
    assert np.abs(commanded - ep.deltas[:, :3]).max() > 1e-3  # the operator's commands are not where the arm went
    assert np.corrcoef(commanded.ravel(), ep.deltas[:, :3].ravel())[0, 1] > 0.9  # ... but they are aligned with it


def test_gripper_binarization():
    cmds = np.array([1.0, 0.97, 0.6, 0.02, 0.0, 0.3, 0.99, 0.5])
    #                open  open  ->closed  closed closed ->open open  trailing in-between: nearest side (>= .5)
    np.testing.assert_array_equal(binarize_gripper_commands(cmds), [1, 1, 0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(binarize_gripper_commands(np.array([0.2])), [0])


@pytest.mark.parametrize("text, expected", [
    ("put the carrot in the pot\nconfidence: 1\n", "put the carrot in the pot"),
    ("confidence: 0.9\n\n  open the drawer  \n", "open the drawer"),
    ("confidence: 1\n", ""),
])
def test_instruction_line(tmp_path, text, expected):
    (tmp_path / "lang.txt").write_text(text)
    assert read_instruction(tmp_path) == expected


def test_collection_date_sources(tmp_path):
    dated = tmp_path / "x" / "2021-07-22_23-59-59" / "raw" / "traj_group0" / "traj0"
    assert collection_date(dated) == (date(2021, 7, 22), "dir")
    plain = tmp_path / "plain" / "traj0"
    assert collection_date(plain, [1627084800.0, 1627084800.2]) == (date(2021, 7, 24), "timestamp")
    assert collection_date(plain, [0.0, 0.2]) == (None, "unknown")
    assert collection_date(plain, None) == (None, "unknown")


def test_date_falls_back_to_the_time_stamp(raw_fixture, truth, tmp_path):
    early = next(t for t in _good(truth) if t["latency"])
    dst = tmp_path / "undated" / "raw" / "traj_group0" / "traj0"
    shutil.copytree(raw_fixture / early["episode_id"], dst)
    ep = read_episode(dst, tmp_path / "undated")
    assert ep.date_source == "timestamp" and ep.latency_shifted
    np.testing.assert_allclose(ep.states[:, :3], np.array(early["states"]), atol=1e-8)


def test_broken_episodes_raise_named_reasons(raw_fixture, truth):
    broken = [t for t in truth.values() if t["corrupt"]]
    assert {t["corrupt"] for t in broken} == {"bad_pickle", "missing_images", "no_instruction", "length_mismatch",
                                              "corrupt_image", "missing_file"}
    for t in broken:
        with pytest.raises(EpisodeError) as err:
            read_episode(raw_fixture / t["episode_id"], raw_fixture)
        assert err.value.reason == t["corrupt"], (t["episode_id"], err.value)
        assert err.value.detail


def test_non_finite_states_and_short_episodes(raw_copy, truth):
    t = _good(truth)[0]
    traj = raw_copy / t["episode_id"]
    with open(traj / "obs_dict.pkl", "rb") as f:
        obs = pickle.load(f)
    obs["full_state"][3, 1] = np.nan
    with open(traj / "obs_dict.pkl", "wb") as f:
        pickle.dump(obs, f)
    with pytest.raises(EpisodeError, match="non-finite") as err:
        read_episode(traj, raw_copy)
    assert err.value.reason == "bad_values"
    with pytest.raises(EpisodeError) as err:
        read_episode(raw_copy / _good(truth)[1]["episode_id"], raw_copy, ReaderSpec(min_steps=10_000))
    assert err.value.reason == "too_short"


def test_groups_stream_in_a_stable_order(raw_fixture, truth):
    groups = list(iter_groups(raw_fixture))
    ids = [p.relative_to(raw_fixture).as_posix() for g in groups for p in g.paths]
    assert sorted(ids) == sorted(truth) and len(set(ids)) == len(ids)
    assert ids == [p.relative_to(raw_fixture).as_posix() for g in iter_groups(raw_fixture) for p in g.paths]
    one = raw_fixture / _good(truth)[0]["episode_id"]
    assert [g.paths for g in iter_groups(one)] == [(one,)]
    assert list(iter_groups(one.parent))[0].paths[0].parent == one.parent
    with pytest.raises(FileNotFoundError, match="no such directory"):
        list(iter_groups(raw_fixture / "nope"))


def test_fingerprint_changes_with_the_files(raw_copy, truth):
    traj = raw_copy / _good(truth)[0]["episode_id"]
    before = fingerprint(traj)
    assert fingerprint(traj) == before
    (traj / "lang.txt").write_text("pick up the spoon\n")
    assert fingerprint(traj) != before
    after_lang = fingerprint(traj)
    img = traj / "images0" / "im_2.jpg"
    img.write_bytes(img.read_bytes() + b"\x00")
    assert fingerprint(traj) != after_lang
    Path(traj / "images0" / "im_2.jpg").unlink()
    assert fingerprint(traj) not in (before, after_lang)
