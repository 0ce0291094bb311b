"""Raw fixtures written once per session (rendering is the slow part); tests that change files get a copy."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.data.build import BuildConfig
from harness.data.fixture import CORRUPTIONS, write_fixture

GOOD, BROKEN = 9, len(CORRUPTIONS)


@pytest.fixture(scope="session")
def raw_fixture(tmp_path_factory) -> Path:
    """9 good trajectories (both sides of the latency cut-off, pick and place) + one of each corruption."""
    root = tmp_path_factory.mktemp("raw")
    write_fixture(root, episodes=GOOD, corrupt=BROKEN, seed=3)
    return root


@pytest.fixture(scope="session")
def truth(raw_fixture) -> dict[str, dict]:
    data = json.loads((raw_fixture / "fixture.json").read_text())
    return {t["episode_id"]: t for t in data["trajectories"]}


@pytest.fixture
def raw_copy(raw_fixture, tmp_path) -> Path:
    dst = tmp_path / "raw"
    shutil.copytree(raw_fixture, dst)
    return dst


@pytest.fixture(scope="session")
def config() -> BuildConfig:
    return BuildConfig.load("bridge", "rules")


@pytest.fixture(scope="session")
def episodes(raw_fixture, config):
    """The good episodes, read once."""
    from harness.data.bridge import iter_episodes

    return list(iter_episodes(raw_fixture, config.spec.reader))
