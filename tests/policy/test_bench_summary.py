"""The policy benchmark's result: ratios against the baseline, the targets, the table, where the rows go."""

from __future__ import annotations

import pytest

from harness.policy.bench import VariantSummary, default_csv, summarize


def _summary(variant: str, median: float, passes: float, malformed: int = 0, cycles: int = 100) -> VariantSummary:
    return VariantSummary(variant, cycles, median, median, median, median, median, passes, 10.0, 5.0, malformed)


def _three(opt: VariantSummary, peer_median: float = 2.0, peer_passes: float = 20.0) -> dict[str, VariantSummary]:
    return {"baseline": _summary("baseline", 4.0, 40.0), "optimized": opt,
            "peer": _summary("peer", peer_median, peer_passes)}


def test_ratios_against_baseline_and_peer_and_targets_against_the_peer(tmp_path):
    r = summarize("m", _three(_summary("optimized", 1.0, 12.0)), 0.5, tmp_path / "rows.csv")
    assert r.name == "policy" and r.variants == ("baseline", "optimized", "peer")
    assert r.ratios["median_wall"] == pytest.approx(0.25) and r.ratios["forward_passes"] == pytest.approx(0.3)
    assert r.ratios["median_wall_vs_peer"] == pytest.approx(0.5)
    assert r.ratios["forward_passes_vs_peer"] == pytest.approx(0.6)
    assert r.targets == {"median cycle wall <= 0.5x peer": True, "forward passes <= 0.6x peer": True,
                         "0 malformed chunks (optimized and peer) in >= 100 cycles": True}
    assert r.metrics["optimized"]["median_s"] == 1.0 and r.metrics["csv"] == str(tmp_path / "rows.csv")
    assert r.metrics["peer"]["forward_passes"] == 20.0
    report = r.report()
    assert "optimized / baseline: median wall x0.25" in report and "optimized / peer: median wall x0.50" in report
    assert "loses" not in report  # it wins on every measure


def test_a_malformed_chunk_or_too_few_cycles_misses_the_target():
    r = summarize("m", _three(_summary("optimized", 0.9, 9.0, 1), 1.0, 10.0), 0.0, None)
    assert not any(r.targets.values())
    assert r.report().count("NOT met") == 3
    # a malformed peer chunk misses the malformed target too
    r = summarize("m", _three(_summary("optimized", 0.5, 5.0), 2.0, 20.0) | {"peer": _summary("peer", 2.0, 20.0, 1)},
                  0.0, None)
    assert r.targets["0 malformed chunks (optimized and peer) in >= 100 cycles"] is False


def test_where_the_optimized_decoding_loses_to_the_peer_the_summary_says_so_with_the_counters():
    opt = VariantSummary("optimized", 10, 1.5, 1.5, 1.4, 1.6, 2.0, 12.0, 30.0, 40.0, 0, forced_tokens=9.0,
                         accepted_tokens=3.0, reused_tokens=50.0)
    peer = VariantSummary("peer", 10, 1.0, 1.6, 0.9, 1.1, 2.0, 20.0, 30.0, 20.0, 0, reused_tokens=40.0)
    lines = summarize("m", {"optimized": opt, "peer": peer}, 0.0, None).table
    lost = [x for x in lines if x.startswith("optimized loses")]
    assert len(lost) == 1 and lost[0].startswith("optimized loses to the peer on median cycle wall: 1.5s vs 1s")
    counters = next(x for x in lines if x.startswith("counters per cycle"))
    assert "passes 12.0 | 20.0" in counters and "forced 9.0 | 0.0" in counters and "ms/pass 125.0 | 80.0" in counters


def test_rows_go_under_the_results_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path))
    assert default_csv("gemma3-270m") == tmp_path / "bench" / "policy_gemma3-270m.csv"
