"""Scores come from VLMEvalKit's own `evaluate`: fakes with known answers give the scores its rules imply."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.records import VQAScoreRow, read_rows
from tests.vqa.fakes import constant

MAX = {"MMMU_DEV_VAL_EMB": 100.0, "MMStar_EMB": 100.0, "MME_EMB": 2800.0, "OCRBench_EMB": 10.0,
       "MMBench_DEV_EN_EMB": 100.0, "TextVQA_VAL_EMB": 100.0, "DocVQA_VAL_EMB": 100.0}


def _headlines(rows, model="fake"):
    return {r.benchmark: r.score for r in rows if r.metric == "Overall" and r.model == model}


def test_perfect_model_scores_the_maximum_everywhere(run_suite, perfect):
    result, csv = run_suite(perfect)
    assert _headlines(result.rows) == pytest.approx(MAX)
    mme = {r.metric: (r.score, r.scale) for r in result.rows if r.benchmark == "MME_EMB" and r.model == "fake"}
    assert mme["perception"] == (2000.0, "/2000") and mme["reasoning"] == (800.0, "/800")
    assert read_rows(csv, VQAScoreRow) == result.rows


def test_always_a_scores_the_a_rate(run_suite, staged):
    """Plain multiple choice: the share of questions whose answer is A. Circular (MMBench): 0, since the
    correct option moves through every letter. Everything else: nothing matches 'A'."""
    result, _ = run_suite(constant("A"))
    got = _headlines(result.rows)
    mmstar = pd.read_csv(staged / "MMStar_EMB.tsv", sep="\t")
    mmmu = pd.read_csv(staged / "MMMU_DEV_VAL_EMB.tsv", sep="\t")
    mmmu_val = mmmu[mmmu["split"] == "validation"]
    assert 0 < (mmstar["answer"] == "A").mean() < 1
    assert got["MMStar_EMB"] == pytest.approx((mmstar["answer"] == "A").mean() * 100, abs=1e-3)
    assert got["MMMU_DEV_VAL_EMB"] == pytest.approx((mmmu_val["answer"] == "A").mean() * 100, abs=1e-3)
    assert got["MMBench_DEV_EN_EMB"] == 0.0
    assert got["MME_EMB"] == got["OCRBench_EMB"] == got["TextVQA_VAL_EMB"] == got["DocVQA_VAL_EMB"] == 0.0


def test_always_yes_on_mme_scores_half_accuracy_and_no_plus(run_suite):
    """MME category score = acc + acc+ (both questions of an image right): 'Yes' everywhere gives 50 + 0."""
    result, _ = run_suite(constant("Yes"), only=["MME_EMB"])
    metrics = {r.metric: r.score for r in result.rows if r.model == "fake"}
    assert metrics["Overall"] == pytest.approx(14 * 50.0)
    assert metrics["color"] == pytest.approx(50.0)


def test_near_miss_answers_get_partial_anls(run_suite, staged):
    """DocVQA's ANLS gives credit for a near miss: one wrong character of a long answer still scores."""
    import ast

    df = pd.read_csv(staged / "DocVQA_VAL_EMB.tsv", sep="\t")
    answers = {q: ast.literal_eval(a)[0] for q, a in zip(df["question"], df["answer"], strict=True)}

    from tests.vqa.fakes import FakeGenerator

    def typo(content):
        text = [c for c in content if isinstance(c, str)][-1]
        answer = next(a for q, a in answers.items() if q in text)
        return answer[:-1] + ("x" if answer[-1] != "x" else "y")

    result, _ = run_suite(FakeGenerator(typo), only=["DocVQA_VAL_EMB"])
    score = _headlines(result.rows)["DocVQA_VAL_EMB"]
    assert 50.0 < score < 100.0


def test_rows_record_judge_n_sha_and_run_dir(run_suite, perfect, results):
    result, _ = run_suite(perfect, only=["MMStar_EMB", "OCRBench_EMB"], limit=5)
    heads = [r for r in result.rows if r.metric == "Overall" and r.model == "fake"]
    assert [r.benchmark for r in heads] == ["MMStar_EMB", "OCRBench_EMB"]
    for r in result.rows:
        assert r.judge == "exact_matching" and r.n == 5 and r.suite == "embedded" and r.model in ("fake", "chance")
        assert r.git_sha and r.date.endswith("+00:00")
        assert Path(r.run_dir) == result.run_dir.resolve()  # absolute: results/ is outside the checkout here
        assert result.run_dir.parent == results / "vqa" / "fake"
    assert {r.scale for r in heads} == {"%", "/10"}
    assert _headlines(result.rows)["OCRBench_EMB"] == 5.0  # limit 5 of 10: counts, not a rate


def test_vlmevalkit_output_files_are_kept_per_benchmark(run_suite, perfect):
    result, _ = run_suite(perfect, only=["MMStar_EMB", "MME_EMB"])
    files = {p.name for p in (result.run_dir / "MMStar_EMB").iterdir()}
    assert {"fake_MMStar_EMB.xlsx", "fake_MMStar_EMB_acc.csv", "fake_MMStar_EMB_predictions.jsonl"} <= files
    assert "fake_MME_EMB_score.csv" in {p.name for p in (result.run_dir / "MME_EMB").iterdir()}
    assert (result.run_dir / "run.json").is_file()


def test_retention_against_the_base_model(run_suite, perfect):
    from harness.vqa.scores import retention

    run_suite(perfect, model="base", only=["MMStar_EMB", "MME_EMB"])
    _, csv = run_suite(constant("Yes"), model="tuned", only=["MMStar_EMB", "MME_EMB"])
    table = {t.benchmark: t for t in retention(read_rows(csv, VQAScoreRow), "tuned", "base", "embedded")}
    assert table["MME_EMB"].retention_pct == pytest.approx(700 / 2800 * 100)
    assert table["MMStar_EMB"].retention_pct == pytest.approx(0.0)
    assert table["MME_EMB"].chance_score == pytest.approx(700.0)  # "Yes" to everything, scored by VLMEvalKit


def test_every_run_scores_the_constant_answer_beside_the_model(run_suite, perfect, staged):
    """VLMEvalKit scores a constant prediction file next to the model's: "Yes" on yes/no, "A" on multiple choice,
    "yes" on open questions - the chance level each reading is shown against."""
    result, csv = run_suite(perfect, only=["MME_EMB", "MMStar_EMB", "TextVQA_VAL_EMB"])
    chance = _headlines(result.rows, "chance")
    mmstar = pd.read_csv(staged / "MMStar_EMB.tsv", sep="\t")
    assert chance["MME_EMB"] == pytest.approx(700.0)
    assert chance["MMStar_EMB"] == pytest.approx((mmstar["answer"] == "A").mean() * 100, abs=1e-3)
    assert chance["TextVQA_VAL_EMB"] < 100.0 and _headlines(result.rows)["TextVQA_VAL_EMB"] == 100.0
    assert (result.run_dir / "MME_EMB" / "chance" / "chance_MME_EMB.xlsx").is_file()
    assert read_rows(csv, VQAScoreRow) == result.rows


def test_retention_is_not_reported_where_the_base_is_at_chance(run_suite, perfect):
    from harness.vqa.scores import retention

    run_suite(constant("Yes"), model="base", only=["MME_EMB"])  # the base answers "Yes": exactly chance
    _, csv = run_suite(perfect, model="tuned", only=["MME_EMB"])
    (t,) = retention(read_rows(csv, VQAScoreRow), "tuned", "base", "embedded")
    assert (t.base_score, t.chance_score, t.retention_pct) == (pytest.approx(700.0), pytest.approx(700.0), None)


def test_base_model_of_follows_the_specs():
    from harness.specs.lineage import base_model_of
    from harness.vqa.scores import adapter_ready

    assert base_model_of("vlm2vla") == "gemma3-base"
    assert base_model_of("gemma3-base") is None  # no adapter: it is the base
    assert base_model_of("no-such-model") is None
    assert adapter_ready("gemma3-base") is False


def test_limit_keeps_mme_image_pairs_whole(run_suite, perfect):
    """`--limit 3` cuts an MME image's yes/no pair in half; the pair is completed so MME's score is defined."""
    result, _ = run_suite(perfect, only=["MME_EMB"], limit=3)
    heads = [r for r in result.rows if r.metric == "Overall" and r.model == "fake"]
    assert heads[0].n == 4
    categories = [r.metric for r in result.rows if r.scale == "/200" and r.model == "fake"]
    assert heads[0].score == pytest.approx(200.0 * len(categories)) and len(categories) == 2
