"""Choosing one D_lan episode by index or by part of its id."""

from __future__ import annotations

import json

import pytest

from harness.data.build import BuildConfig, Builder
from harness.data.episodes import EpisodeSelectionError, select_episode, usable_episodes
from harness.data.fixture import write_fixture

IDS = ["raw/traj_group0/traj0", "raw/traj_group0/traj1", "raw/traj_group1/traj10"]


def test_an_index_or_a_unique_part_of_the_id():
    assert select_episode(IDS, "1") == IDS[1]
    assert select_episode(IDS, "traj10") == IDS[2]
    assert select_episode(IDS, "group0/traj0") == IDS[0]


@pytest.mark.parametrize("key, message", [("3", "only 3 usable episodes"),
                                          ("traj1", "matches 2 episodes"), ("nothing", "matches 0 episodes")])
def test_no_episode_or_several_is_an_error(key, message):
    with pytest.raises(EpisodeSelectionError, match=message):
        select_episode(IDS, key)


def test_usable_episodes_are_those_the_build_kept(tmp_path):
    assert usable_episodes(tmp_path / "nothing-built") == []
    raw, out = tmp_path / "raw", tmp_path / "dlan"
    write_fixture(raw, 2, 1, seed=0)
    Builder(raw, out, BuildConfig.load("bridge", "rules"), progress=False).run()
    info = json.loads((raw / "fixture.json").read_text())
    assert usable_episodes(out) == sorted(t["episode_id"] for t in info["trajectories"] if not t["corrupt"])
