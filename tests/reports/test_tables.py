"""Numbers in the generated tables equal values computed by hand from the fixture results."""

from __future__ import annotations

import pytest

from tests.reports import hand
from tests.reports.conftest import pick, read_csv


def _f(value: str) -> float:
    return float(value)


def test_success_rates_and_wilson_bounds(built):
    _, out = built
    rows = read_csv(out / "tables" / "success.csv")
    r = pick(rows, source="ours", task="pickup", model="vlm2vla")
    # fixture: 6 successes, 4 failures, 1 invalid, 1 skip -> 6/10
    assert (r["successes"], r["n"], r["invalid"], r["skip"], r["planned"]) == ("6", "10", "1", "1", "30")
    assert _f(r["rate_pct"]) == 60.0
    lo, hi = hand.wilson(6, 10)
    assert _f(r["ci95_low_pct"]) == pytest.approx(lo * 100, rel=1e-5)
    assert _f(r["ci95_high_pct"]) == pytest.approx(hi * 100, rel=1e-5)
    # the duplicated trial row (same trial in two exports) is counted once
    r = pick(rows, source="ours", task="pickup", model="openvla")
    assert (r["successes"], r["n"]) == ("3", "10")
    r = pick(rows, source="ours", task="pickup-ash", model="openvla")
    assert (r["successes"], r["n"], r["ci95_low_pct"]) == ("0", "10", "0")
    assert _f(r["ci95_high_pct"]) == pytest.approx(hand.wilson(0, 10)[1] * 100, rel=1e-5)


def test_paper_rows_sit_beside_ours_labelled(built):
    _, out = built
    rows = read_csv(out / "tables" / "success.csv")
    r = pick(rows, source="paper", task="pickup-multilingual", model="vlm2vla")
    assert (r["rate_pct"], r["successes"], r["n"], r["note"]) == ("53", "48", "90", "successes derived")
    lo, hi = hand.wilson(48, 90)
    assert _f(r["ci95_low_pct"]) == pytest.approx(lo * 100, rel=1e-5)
    assert len([r for r in rows if r["source"] == "paper"]) == 20
    md = (out / "tables" / "success.md").read_text()
    assert "| paper | pickup-ash | vlm2vla | 18 | 30 | 30 | 60.0 |" in md
    assert "| ours | pickup | vlm2vla | 6 | 10 | 30 | 60.0 |" in md


def test_significance_p_values(built):
    _, out = built
    rows = read_csv(out / "tables" / "significance.csv")
    ours = [r for r in rows if r["source"] == "ours"]
    assert [(r["task"], r["model_b"]) for r in ours] == [("pickup", "openvla"), ("pickup-ash", "openvla")]
    p1, p2 = hand.fisher_two_sided(6, 4, 3, 7), hand.fisher_two_sided(8, 2, 0, 10)
    assert _f(ours[0]["p_fisher"]) == pytest.approx(p1, rel=1e-5)
    assert _f(ours[1]["p_fisher"]) == pytest.approx(p2, rel=1e-5)
    h1, h2 = hand.holm([p1, p2])
    assert _f(ours[0]["p_holm"]) == pytest.approx(h1, rel=1e-5)
    assert _f(ours[1]["p_holm"]) == pytest.approx(h2, rel=1e-5)
    assert _f(ours[0]["diff_pp"]) == pytest.approx(30.0)
    paper = pick(rows, source="paper", task="pickup-ash", model_b="vlm2vla-at")
    assert _f(paper["p_fisher"]) == pytest.approx(hand.fisher_two_sided(18, 12, 9, 21), rel=1e-5)
    assert paper["note"] == "derived counts"


def test_vqa_headline_scale_and_retention(built):
    _, out = built
    rows = {r["benchmark"]: r for r in read_csv(out / "tables" / "vqa.csv")}
    # newest run wins (45.0 of 2026-01-03, not 30.0 of 2026-01-01); the category metric is not the headline
    assert _f(rows["MMStar"]["gemma3-base"]) == 50.0 and _f(rows["MMStar"]["vlm2vla"]) == 45.0
    assert _f(rows["MMStar"]["vlm2vla_retention_pct"]) == pytest.approx(90.0)
    # MME = perception + reasoning
    assert _f(rows["MME"]["gemma3-base"]) == 1300.0 and _f(rows["MME"]["vlm2vla"]) == 1150.0
    assert _f(rows["MME"]["vlm2vla_retention_pct"]) == pytest.approx(1150 / 1300 * 100, rel=1e-5)
    assert rows["MME"]["unit"] == "/2800"
    # OCRBench /1000 shown as a percentage, like the paper's 75.0
    assert _f(rows["OCRBench"]["gemma3-base"]) == 70.0 and rows["OCRBench"]["unit"] == "%"
    assert _f(rows["OCRBench"]["gemma3-base_paper"]) == 75.0
    assert _f(rows["OCRBench"]["vlm2vla_retention_pct_paper"]) == pytest.approx(63.9 / 75.0 * 100, rel=1e-5)
    # OpenVLA is not fine-tuned from gemma3-base: no retention column
    assert "openvla_retention_pct" not in rows["MMStar"] and rows["MMStar"]["openvla"] == "0"
    # paper-only benchmarks still appear, our cells empty
    assert rows["DocVQA"]["vlm2vla"] == "" and _f(rows["DocVQA"]["vlm2vla_paper"]) == 78.4


def test_latency_stats_and_ratios(built):
    _, out = built
    rows = read_csv(out / "tables" / "latency.csv")
    base = pick(rows, source="ours", variant="baseline")
    assert [_f(base[k]) for k in ("median_s", "q25_s", "q75_s", "min_s", "max_s")] == [1.4, 1.2, 1.6, 1.0, 3.0]
    assert _f(base["mean_s"]) == pytest.approx(1.64)
    assert _f(base["malformed_pct"]) == 20.0 and base["median_vs_baseline"] == ""
    opt = pick(rows, source="ours", variant="optimized")
    assert _f(opt["median_vs_baseline"]) == pytest.approx(0.7 / 1.4)
    assert _f(opt["passes_vs_baseline"]) == pytest.approx(18 / 40)
    paper = pick(rows, source="paper")
    assert (paper["median_s"], paper["q25_s"], paper["q75_s"], paper["cycles"]) == ("6.1", "5", "6.7", "30")


def test_forgetting_logprob_training(built):
    _, out = built
    grid = read_csv(out / "tables" / "forgetting.csv")
    assert [r["arm"] for r in grid] == ["base", "verbalized-lora", "verbalized-full", "least_likely-lora",
                                        "least_likely-full"]
    assert _f(pick(grid, arm="least_likely-full")["retention_pct"]) == 50.0
    lp = read_csv(out / "tables" / "logprob.csv")
    assert _f(pick(lp, representation="verbalized")["mean"]) == pytest.approx(-2.2)
    assert _f(pick(lp, representation="least_likely")["median"]) == pytest.approx(-27.0)
    train = read_csv(out / "tables" / "training.csv")
    a = pick(train, run="run-a")
    assert (a["first_loss"], a["last_loss"], a["min_loss"], a["last_step"]) == ("2", "0.9", "0.9", "5")


def test_index_readings_and_provenance(built):
    summary, out = built
    readme = (out / "README.md").read_text()
    assert "ours (suite paper): vlm2vla retains 88–90% of gemma3-base's score over 3 benchmarks" in readme
    assert "paper (suite paper): vlm2vla retains 85–118% of gemma3-base's score over 7 benchmarks" in readme
    assert "ours: vlm2vla succeeds in pickup 60% (6/10, CI 31–83%)" in readme
    assert "0.50× the baseline median, 0.45× its forward passes" in readme
    assert "under LoRA verbalized actions keep more knowledge than least-likely tokens (98.3% vs 90.0%)" in readme
    assert "40 preferences: openvla +1.05±0.41 > vlm2vla +0.32±0.36 > vlm2vla-at -1.37±0.42" in readme
    # git shas recorded in the VQA rows, not HEAD
    assert "git 0123456789, abc123def4, fedcba9876" in readme
    for f in ("tables/vqa.md", "tables/success.tex", "figures/success.png", "figures/logprob.pdf",
              "figures/training.png", "figures/latency.pdf", "figures/forgetting.png", "figures/vqa.pdf",
              "tables/ranking.md", "figures/ranking.png"):
        assert f"]({f})" in readme and (out / f).stat().st_size > 0
    assert summary.problems == [] and summary.missing == []
