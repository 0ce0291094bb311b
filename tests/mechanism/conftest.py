"""Fixtures for the mechanism tests: a small D_lan with a held-out split, private results/runs directories."""

from __future__ import annotations

import pytest

from tests.dlan_fixture import write_dlan


@pytest.fixture(scope="session")
def dlan_heldout(tmp_path_factory):
    """3 episodes: 2 train, 1 held out (3 held-out action examples)."""
    return write_dlan(tmp_path_factory.mktemp("dlan-heldout"), episodes=3, heldout=1)


@pytest.fixture(scope="module")
def tiny_model():
    from harness.models import load_model

    return load_model("tiny")


@pytest.fixture
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path / "results"))
    return tmp_path
