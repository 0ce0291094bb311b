"""Fixtures for the VQA tests: the embedded suite staged once per session, VLMEvalKit datasets, a run helper."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def staged(tmp_path_factory) -> Path:
    """The embedded suite written to a private LMUData directory."""
    from harness.vqa import generated

    root = tmp_path_factory.mktemp("lmudata")
    generated.stage(root)
    return root


@pytest.fixture(scope="session")
def suite():
    from harness.specs import load_vqa_suite

    return load_vqa_suite("embedded")


@pytest.fixture
def results(tmp_path, monkeypatch) -> Path:
    """results/ redirected to a temporary directory."""
    path = tmp_path / "results"
    monkeypatch.setenv("VLM2VLA_RESULTS", str(path))
    return path


def _datasets(staged: Path, suite) -> dict:
    from harness.vqa import kit, runner

    with kit.session(staged):
        return {b.dataset: runner.instantiate(b) for b in suite.benchmarks}


@pytest.fixture
def datasets(staged, suite):
    """Fresh VLMEvalKit dataset objects for every embedded benchmark (tests may change their data)."""
    return _datasets(staged, suite)


@pytest.fixture(scope="session")
def perfect(staged, suite):
    """A fake model that answers every embedded question correctly."""
    from tests.vqa.fakes import oracle

    return oracle(_datasets(staged, suite).values())


@pytest.fixture
def run_suite(staged, suite, tmp_path, results):
    """Run (part of) the embedded suite with a generator; returns (RunResult, scores.csv path)."""
    from harness.vqa import runner
    from harness.vqa.judge import Judge

    def go(generator, *, model="fake", batch_size=4, limit=None, only=(), judge=None, resume=None, on_batch=None):
        cfg = runner.RunConfig(model=model, suite=suite, lmudata=staged, judge=judge or Judge("exact_matching"),
                               batch_size=batch_size, max_new_tokens=8, limit=limit, only=list(only))
        run_dir = runner.prepare(cfg, resume)
        csv = tmp_path / "scores.csv"
        return runner.run(generator, cfg, run_dir, progress=False, csv=csv, on_batch=on_batch), csv

    return go
