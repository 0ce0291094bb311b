"""Shared fixtures. Fakes and tiny fixtures live here, never in the library."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MUJOCO_GL", "egl")


@pytest.fixture
def experiments_copy(tmp_path, monkeypatch):
    """A private copy of experiments/ that a test may break without touching the repository."""
    import shutil

    from harness.paths import REPO_ROOT

    dst = tmp_path / "experiments"
    shutil.copytree(REPO_ROOT / "experiments", dst)
    monkeypatch.setenv("VLM2VLA_EXPERIMENTS", str(dst))
    return dst
