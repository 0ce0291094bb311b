"""Fixtures for training tests: a small synthetic D_lan and private run/result directories."""

from __future__ import annotations

import pytest

from tests.dlan_fixture import write_dlan


@pytest.fixture(scope="session")
def dlan(tmp_path_factory):
    return write_dlan(tmp_path_factory.mktemp("dlan"), episodes=3)


@pytest.fixture(scope="module")
def private_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VLM2VLA_RUNS", str(root / "runs"))
        mp.setenv("VLM2VLA_RESULTS", str(root / "results"))
        yield root
