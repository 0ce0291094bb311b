"""The policy benchmark's result: ratios against the baseline, the targets, the table, where the rows go."""

from __future__ import annotations

import pytest

from harness.policy.bench import VariantSummary, default_csv, summarize


def _summary(variant: str, median: float, passes: float, malformed: int = 0, cycles: int = 100) -> VariantSummary:
    return VariantSummary(variant, cycles, median, median, median, median, median, passes, 10.0, 5.0, malformed)


def test_ratios_and_targets_compare_the_optimized_arm_with_the_baseline(tmp_path):
    r = summarize("m", {"baseline": _summary("baseline", 2.0, 30.0), "optimized": _summary("optimized", 1.0, 12.0)},
                  0.5, tmp_path / "rows.csv")
    assert r.name == "policy" and r.variants == ("baseline", "optimized")
    assert r.ratios["median_wall"] == pytest.approx(0.5) and r.ratios["forward_passes"] == pytest.approx(0.4)
    assert r.targets == {"forward passes <= 0.5x baseline": True, "median cycle wall <= 0.6x baseline": True,
                         "0 malformed chunks in >= 100 cycles": True}
    assert r.metrics["optimized"]["median_s"] == 1.0 and r.metrics["csv"] == str(tmp_path / "rows.csv")
    assert "optimized / baseline: median wall x0.50" in r.report()


def test_a_malformed_chunk_or_too_few_cycles_misses_the_target():
    r = summarize("m", {"baseline": _summary("baseline", 1.0, 10.0), "optimized": _summary("optimized", 0.9, 9.0, 1)},
                  0.0, None)
    assert not any(r.targets.values())
    assert r.report().count("NOT met") == 3


def test_rows_go_under_the_results_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path))
    assert default_csv("gemma3-270m") == tmp_path / "bench" / "policy_gemma3-270m.csv"
