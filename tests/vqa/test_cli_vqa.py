"""`vlm2vla vqa ...`: exit codes, errors before any work, an end-to-end run with a fake model."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli import vqa as vqa_cli
from harness.cli.main import app
from harness.records import VQAScoreRow, read_rows
from tests.vqa.fakes import constant

runner = CliRunner()


@pytest.fixture
def cache(tmp_path, monkeypatch, staged):
    """The harness cache in a temporary directory, with the embedded suite already there (as a run leaves it)."""
    import shutil

    from harness.vqa import data

    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path / "cache"))
    shutil.copytree(staged, data.embedded_root(), ignore=shutil.ignore_patterns("images"))
    return tmp_path / "cache"


def test_help_lists_the_subcommands():
    r = runner.invoke(app, ["vqa", "--help"])
    assert r.exit_code == 0
    for word in ("--model", "--suite", "--limit", "--batch-size", "stage-embedded", "bench", "retention", "check"):
        assert word in r.stdout


def test_model_is_required():
    r = runner.invoke(app, ["vqa", "--suite", "embedded"])
    assert r.exit_code == 2 and "--model is required" in r.stderr


def test_unstaged_paper_suite_fails_before_loading_anything(tmp_path, monkeypatch, results):
    monkeypatch.setenv("LMUData", str(tmp_path))
    monkeypatch.setattr(vqa_cli, "_load_model", lambda name: pytest.fail("model loaded before the data check"))
    r = runner.invoke(app, ["vqa", "--model", "gemma3-base", "--suite", "paper"])
    assert r.exit_code == 2
    assert f"{tmp_path / 'MMMU_DEV_VAL.tsv'} is missing" in r.stderr
    assert not (results / "vqa").exists()


def test_stage_embedded_writes_the_suite(tmp_path):
    r = runner.invoke(app, ["vqa", "stage-embedded", "--out", str(tmp_path)])
    assert r.exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("*.tsv")) == sorted(
        f"{n}.tsv" for n in ["DocVQA_VAL_EMB", "MMBench_DEV_EN_EMB", "MME_EMB", "MMMU_DEV_VAL_EMB", "MMStar_EMB",
                             "OCRBench_EMB", "TextVQA_VAL_EMB"])
    assert "MME_EMB" in r.stdout


def test_end_to_end_with_a_fake_model_prints_scores_and_retention(monkeypatch, cache, results):
    fakes = {"vlm2vla": constant("Yes"), "gemma3-base": constant("A")}
    monkeypatch.setattr(vqa_cli, "_load_model", lambda name: fakes[name])
    args = ["--suite", "embedded", "--limit", "6", "--batch-size", "3", "--quiet",
            "--benchmark", "MME_EMB", "--benchmark", "MMStar_EMB"]
    base = runner.invoke(app, ["vqa", "--model", "gemma3-base", *args])
    assert base.exit_code == 0, base.stderr
    assert "MME_EMB" in base.stdout and "exact_matching" in base.stdout
    tuned = runner.invoke(app, ["vqa", "--model", "vlm2vla", *args])
    assert tuned.exit_code == 0, tuned.stderr
    assert "retention of vlm2vla vs gemma3-base (embedded)" in tuned.stdout
    rows = read_rows(results / "vqa" / "scores.csv", VQAScoreRow)
    assert {(r.model, r.benchmark) for r in rows if r.metric == "Overall"} == {
        (m, b) for m in ("gemma3-base", "vlm2vla", "chance") for b in ("MME_EMB", "MMStar_EMB")}
    assert "chance" in base.stdout.splitlines()[0]  # the score table has the constant answer's column
    r = runner.invoke(app, ["vqa", "retention", "--model", "vlm2vla", "--suite", "embedded"])
    assert r.exit_code == 0 and "MMStar" in r.stdout
    mme = next(line for line in r.stdout.splitlines() if "MME" in line)
    assert "n/a (base at or below chance)" in mme and "(chance 150.00)" in mme  # base "A" scores 0


def test_bench_reports_both_arms(monkeypatch, cache, results):
    from tests.vqa.fakes import echo_hash

    monkeypatch.setattr(vqa_cli, "_load_model", lambda name: echo_hash())
    r = runner.invoke(app, ["vqa", "bench", "--model", "fake", "--n", "10", "--batch-size", "4"])
    assert r.exit_code == 0, r.stderr
    assert "identical answers: 10/10" in r.stdout
    assert len(list((results / "vqa" / "bench").glob("fake-*.json"))) == 1
