"""The paper's reference data (results/paper/) matches the published numbers and our spec names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.records import read_rows
from harness.reports.paper import (
    PaperLatencyRow,
    PaperSuccessRow,
    PaperVQARow,
    default_paper_dir,
    derive_successes,
)
from harness.specs import load_model, load_task, load_vqa_suite

# Transcribed from the paper: base / VLM2VLA / OpenVLA / ECoT.
PUBLISHED_VQA = {
    "MMMU": (46.0, 42.7, 26.3, 26.6), "MMStar": (46.3, 48.0, 0, 0), "MME": (1182.3, 1391.7, 0, 0),
    "OCRBench": (75.0, 63.9, 0, 0.01), "MMB-en": (76.9, 68.5, 0, 3.7), "TextVQA": (68.9, 64.9, 0, 0),
    "DocVQA": (80.6, 78.4, 0, 0),
}
VQA_MODELS = ("gemma3-base", "vlm2vla", "openvla", "ecot")
# Fig. 5, % success: OpenVLA / ECoT / VLM2VLA-AT / VLM2VLA.
PUBLISHED_SUCCESS = {
    "pickup": (78, 52, 57, 62), "pick-place-lift": (77, 58, 43, 62), "pick-and-place": (49, 33, 34, 51),
    "pickup-multilingual": (1, 5, 28, 53), "pickup-ash": (0, 0, 30, 60),
}
SUCCESS_MODELS = ("openvla", "ecot", "vlm2vla-at", "vlm2vla")
# A second, independent transcription (the project's reference notes), kept beside the tests.
FACTS = Path(__file__).parent / "fixtures" / "published_numbers.md"


def test_vqa_table_matches_the_paper():
    rows = read_rows(default_paper_dir() / "vqa.csv", PaperVQARow)
    got = {(r.label, r.model): r.score for r in rows}
    want = {(label, m): v for label, vals in PUBLISHED_VQA.items() for m, v in zip(VQA_MODELS, vals, strict=True)}
    assert got == pytest.approx(want)
    assert {r.scale for r in rows if r.label == "MME"} == {"/2800"}
    assert {r.scale for r in rows if r.label not in ("MME",)} == {"%"}  # OCRBench printed as a percentage


def test_vqa_benchmarks_are_those_of_the_paper_suite_spec():
    suite = {b.label: b.dataset for b in load_vqa_suite("paper").benchmarks}
    rows = read_rows(default_paper_dir() / "vqa.csv", PaperVQARow)
    assert {r.label: r.benchmark for r in rows} == suite
    for r in rows:
        load_model(r.model)  # every model name is one of our specs


def test_success_rates_match_fig5_with_derived_counts():
    rows = read_rows(default_paper_dir() / "success.csv", PaperSuccessRow)
    got = {(r.task, r.model): r.rate_pct for r in rows}
    want = {(t, m): v for t, vals in PUBLISHED_SUCCESS.items() for m, v in zip(SUCCESS_MODELS, vals, strict=True)}
    assert got == want
    for r in rows:
        assert r.n_trials == load_task(r.task).trials == (90 if r.task == "pickup-multilingual" else 30)
        assert r.successes_derived == derive_successes(r.rate_pct, r.n_trials)
        load_model(r.model)


def test_latency_matches_the_paper():
    (row,) = read_rows(default_paper_dir() / "latency.csv", PaperLatencyRow)
    assert (row.n_cycles, row.median_s, row.mean_s, row.std_s, row.q25_s, row.q75_s, row.min_s, row.max_s) == (
        30, 6.1, 10.5, 14.3, 5.0, 6.7, 3.8, 48.8)


def test_against_the_independent_transcription():
    text = FACTS.read_text()
    vqa = re.search(r"VQA \(Gemma-3-12B base / VLM2VLA / OpenVLA / ECoT\): (.+?)\nSuccess", text, re.S).group(1)
    found = dict(re.findall(r"([A-Za-z-]+) ([\d./]+)[;.]", vqa.replace("\n", " ")))
    assert found.keys() == PUBLISHED_VQA.keys()
    for label, values in found.items():
        assert tuple(float(v) for v in values.split("/")) == pytest.approx(PUBLISHED_VQA[label]), label
    succ = re.search(r"Success % \(OpenVLA / ECoT / VLM2VLA-AT / VLM2VLA\): (.+?)(?:\n\n|\Z)", text, re.S).group(1)
    numbers = [tuple(int(v) for v in m.split("/")) for m in re.findall(r"\d+/\d+/\d+/\d+", succ)]
    assert numbers == list(PUBLISHED_SUCCESS.values())
