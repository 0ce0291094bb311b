"""VLMEvalKit's evaluation results as tidy rows, and retention against the base model.

VLMEvalKit returns a different shape per benchmark (a per-split accuracy table for multiple choice, a one-row table
for MME and VQA, a dict for OCRBench). `flatten` turns each into {metric: value} without changing any number
except units: multiple-choice accuracies come as fractions and are written as percentages, like every other "%"
score. Each benchmark gets one row named `Overall` holding its headline (the suite spec's `metric`, in its `scale`),
plus one row per other metric VLMEvalKit reported.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.paths import results_dir
from harness.records import CHANCE_MODEL, VQAScoreRow
from harness.records.metrics import retention_pct
from harness.specs.vqa import BenchmarkSpec

HEADLINE = "Overall"
# The constant answer scored as chance, per VLMEvalKit dataset TYPE: "Yes" to every yes/no question (MME's 700/2800
# is exactly that), option A to every multiple-choice one, and "yes" - the commonest VQA answer - otherwise.
CONSTANT_ANSWERS = {"Y/N": "Yes", "MCQ": "A"}
DEFAULT_CONSTANT = "yes"


def scores_csv() -> Path:
    """Every VQA run appends its rows here; retention and the reports read them back."""
    return results_dir() / "vqa" / "scores.csv"


def constant_answer(dataset_type: str) -> str:
    return CONSTANT_ANSWERS.get(dataset_type, DEFAULT_CONSTANT)


def flatten(result: Any, *, percent: bool = False) -> dict[str, float]:
    """{metric: value} from what `dataset.evaluate` returned; per-split tables give `split/metric` keys."""
    factor = 100.0 if percent else 1.0
    out: dict[str, float] = {}
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, numbers.Number) and not isinstance(value, bool):
                out[str(key)] = float(value) * factor
        return out
    if not isinstance(result, pd.DataFrame):
        raise TypeError(f"unexpected VLMEvalKit result of type {type(result).__name__}")
    if "split" not in result.columns and len(result) != 1:
        raise ValueError(f"unexpected VLMEvalKit result table with {len(result)} rows and no split column")
    for _, row in result.iterrows():
        split = row.get("split", "none")
        prefix = "" if split is None or str(split) in ("none", "nan") else f"{split}/"
        for col, value in row.items():
            if col == "split" or not isinstance(value, numbers.Number) or isinstance(value, bool):
                continue
            if not math.isnan(float(value)):
                out[prefix + str(col)] = float(value) * factor
    return out


def headline(metrics: dict[str, float], spec: BenchmarkSpec) -> float:
    """The spec's headline metric: a key, a `split/key`, a key present in exactly one split, or a sum `a+b`."""

    def one(key: str) -> float:
        key = key.strip()
        if key in metrics:
            return metrics[key]
        matches = [k for k in metrics if k.endswith("/" + key)]
        if len(matches) == 1:
            return metrics[matches[0]]
        raise KeyError(f"{spec.dataset}: metric {key!r} not in VLMEvalKit's result (has: {', '.join(metrics)}); "
                       "fix `metric:` in the suite spec")

    return sum(one(part) for part in spec.metric.split("+"))


def _scale(metric: str, spec: BenchmarkSpec) -> str:
    """The unit each VLMEvalKit metric is in (MME parts and categories, OCRBench counts, else %)."""
    if metric == HEADLINE:
        return spec.scale
    if "MME" in spec.dataset:
        return {"perception": "/2000", "reasoning": "/800"}.get(metric, "/200")
    if spec.dataset_class == "OCRBench" or spec.dataset.startswith("OCRBench"):
        return "%" if metric == "Final Score Norm" else "count"
    return "%"


@dataclass
class Scored:
    benchmark: BenchmarkSpec
    metrics: dict[str, float]  # flattened VLMEvalKit result
    n: int  # model answers scored (rows of the prediction file)


def rows_for(scored: Scored, *, model: str, suite: str, judge: str, date: str, git_sha: str,
             run_dir: str, env: str = "") -> list[VQAScoreRow]:
    """One row per metric: the headline as `Overall`, then VLMEvalKit's other metrics."""
    spec = scored.benchmark
    values = {HEADLINE: headline(scored.metrics, spec)}
    values.update((k, v) for k, v in scored.metrics.items() if k != HEADLINE)
    return [VQAScoreRow(model=model, suite=suite, benchmark=spec.dataset, label=spec.label, metric=k,
                        score=round(v, 4), scale=_scale(k, spec), judge=judge, n=scored.n, date=date,
                        git_sha=git_sha, run_dir=run_dir, env=env) for k, v in values.items()]


def latest_headlines(rows: Iterable[VQAScoreRow], model: str, suite: str) -> dict[str, VQAScoreRow]:
    """{benchmark: newest headline row} of a model on a suite."""
    out: dict[str, VQAScoreRow] = {}
    for r in rows:
        if r.model == model and r.suite == suite and r.metric == HEADLINE:
            if r.benchmark not in out or r.date >= out[r.benchmark].date:
                out[r.benchmark] = r
    return out


@dataclass
class Retention:
    benchmark: str
    label: str
    model_score: float
    base_score: float
    retention_pct: float | None  # model / base * 100; None when the base scored at or below chance (or 0)
    chance_score: float | None = None  # the constant answer's score in the same suite (None: not measured)


def retention(rows: Iterable[VQAScoreRow], model: str, base: str, suite: str) -> list[Retention]:
    """Headline of `model` relative to `base` on every benchmark both have scores for (newest runs). A base at or
    below the constant answer's score has nothing to retain: its retention is None, not a ratio of chance levels."""
    rows = list(rows)
    mine, theirs = latest_headlines(rows, model, suite), latest_headlines(rows, base, suite)
    chance = latest_headlines(rows, CHANCE_MODEL, suite)
    out = []
    for bench, r in mine.items():
        if bench in theirs:
            b = theirs[bench]
            floor = chance[bench].score if bench in chance else None
            out.append(Retention(bench, r.label, r.score, b.score, retention_pct(r.score, b.score, floor), floor))
    return out


def adapter_ready(name: str) -> bool:
    """Whether model spec `name` exists and its adapter has been trained (found where the loader looks for it)."""
    from harness.specs import SpecError, load_model
    from harness.specs.lineage import find_adapter

    try:
        spec = load_model(name)
    except SpecError:
        return False
    return spec.adapter is not None and find_adapter(spec.adapter) is not None
