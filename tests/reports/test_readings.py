"""Readings (the one-line summaries in reports/README.md) say what the numbers support, no more."""

from __future__ import annotations

from harness.records import TrainLogRow
from harness.reports import training, vqa


def _log(losses: list[float]) -> list[TrainLogRow]:
    return [TrainLogRow(step=i + 1, epoch=0.0, loss=v, lr=1e-3, tokens=10, elapsed_s=float(i))
            for i, v in enumerate(losses)]


def test_training_reading_compares_the_first_and_last_tenth_not_single_steps():
    # step 1 is a lucky short batch; the trend is down
    losses = [0.5, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.9, 0.7]
    (line,) = training.readings({"run": _log(losses)})
    assert line == "run: mean loss 4.750 over steps 1–2 → 0.800 over steps 19–20 (-83%)"
    (line,) = training.readings({"short": _log([2.0, 1.0])})
    assert line == "short: mean loss 2.000 over step 1 → 1.000 over step 2 (-50%)"


def _vqa(*triples, suite="embedded"):
    return [vqa.Score(source="ours", suite=suite, label=label, model=m, value=v, unit="/2800" if label == "MME" else "%",
                      metric="Overall") for m, label, v in triples]


def test_vqa_reading_shows_chance_and_no_retention_at_chance(monkeypatch):
    monkeypatch.setattr(vqa, "base_model", lambda m: "base" if m == "tuned" else None)
    scores = _vqa(("base", "MME", 700.0), ("tuned", "MME", 700.0), ("chance", "MME", 700.0),
                  ("base", "OCRBench", 0.0), ("tuned", "OCRBench", 5.0))
    models, chance = vqa.split_chance(scores)
    (line,) = vqa.readings(models, vqa.retention(models, chance), chance)
    assert "retains" not in line and "700–700" not in line  # 700/2800 is what "Yes" to everything scores
    assert line.startswith("ours (suite embedded): tuned: no retention vs base; no retention where base scored at "
                           "or below chance (or 0): MME, OCRBench")
    assert line.endswith("chance (constant answer): MME 700/2800; chance not measured for OCRBench")


def test_vqa_reading_of_one_benchmark_is_not_a_range(monkeypatch):
    monkeypatch.setattr(vqa, "base_model", lambda m: "base" if m == "tuned" else None)
    scores = _vqa(("base", "MMStar", 40.0), ("tuned", "MMStar", 30.0), ("chance", "MMStar", 25.0))
    models, chance = vqa.split_chance(scores)
    (line,) = vqa.readings(models, vqa.retention(models, chance), chance)
    assert "tuned retains 75% of base's score on MMStar (one benchmark)" in line and "–" not in line
    assert "chance (constant answer): MMStar 25%" in line


def test_vqa_table_has_a_chance_column_and_zero_panels_start_at_zero(monkeypatch):
    monkeypatch.setattr(vqa, "base_model", lambda m: "base" if m == "tuned" else None)
    scores = _vqa(("base", "OCRBench", 0.0), ("tuned", "OCRBench", 0.0), ("chance", "OCRBench", 0.0))
    models, chance = vqa.split_chance(scores)
    ret = vqa.retention(models, chance)
    table = vqa.vqa_table(models, ret, chance)
    assert [c.key for c in table.columns][:4] == ["suite", "benchmark", "unit", "chance"]
    assert table.rows[0][3] == 0.0 and ret[models[1]] == ("base", None)
    fig = vqa.vqa_figure(models, ret, chance)
    assert fig.axes[0].get_ylim()[0] == 0.0


def test_latency_shows_the_baselines_malformed_rate_next_to_its_times():
    from harness.records import PolicyBenchRow
    from harness.reports import latency

    rows = [PolicyBenchRow("m", v, i, wall, 10, 5, 5, malformed)
            for v, wall, bad in (("baseline", 2.0, 98), ("optimized", 1.0, 0))
            for i, malformed in ((i, i < bad) for i in range(100))]
    (line,) = latency.readings(rows, [])
    assert "0.50× the baseline median, 1.00× its forward passes (the baseline malformed 98% of its cycles)" in line
    table = latency.latency_table(rows, [])
    keys = [c.key for c in table.columns]
    assert keys.index("malformed_pct") == keys.index("median_s") - 1  # right beside the times
    assert table.rows[0][keys.index("malformed_pct")] == 98.0
    fig = latency.latency_figure(rows)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["baseline\n98% malformed",
                                                                    "optimized\n0% malformed"]


def test_latency_compares_the_optimized_decoding_with_the_peer_too():
    from harness.records import PolicyBenchRow
    from harness.reports import latency

    rows = [PolicyBenchRow("m", v, i, wall, passes, 5, 5, v == "baseline")
            for v, wall, passes in (("peer", 2.0, 20), ("optimized", 1.0, 12), ("baseline", 4.0, 40))
            for i in range(10)]
    table = latency.latency_table(rows, [])
    keys = [c.key for c in table.columns]
    by_variant = {r[keys.index("variant")]: dict(zip(keys, r, strict=True)) for r in table.rows}
    assert list(by_variant) == ["baseline", "optimized", "peer"]
    assert by_variant["optimized"]["median_vs_peer"] == 0.5 and by_variant["optimized"]["passes_vs_peer"] == 0.6
    assert by_variant["peer"]["median_vs_baseline"] == 0.5 and by_variant["peer"]["median_vs_peer"] is None
    (line,) = latency.readings(rows, [])
    assert "0.50× the peer median, 0.60× its forward passes (the peer malformed 0% of its cycles)" in line
    assert line.count("× the peer median") == 1  # only the optimized decoding is compared with the peer


def test_latency_ratios_pair_the_cycles_a_sparser_baseline_ran():
    from harness.records import PolicyBenchRow
    from harness.reports import latency

    # the optimized decoding is slow on even cycles, fast on odd ones; the baseline ran on even cycles only
    rows = [PolicyBenchRow("m", "optimized", i, 2.0 if i % 2 == 0 else 0.1, 10, 5, 5, False) for i in range(10)]
    rows += [PolicyBenchRow("m", "baseline", i, 4.0, 40, 5, 5, True) for i in range(0, 10, 2)]
    table = latency.latency_table(rows, [])
    keys = [c.key for c in table.columns]
    by_variant = {r[keys.index("variant")]: dict(zip(keys, r, strict=True)) for r in table.rows}
    assert by_variant["baseline"]["cycles"] == 5 and by_variant["optimized"]["cycles"] == 10
    assert by_variant["optimized"]["median_vs_baseline"] == 0.5  # 2.0 / 4.0 on the shared cycles, not 1.05 / 4.0
    assert by_variant["optimized"]["passes_vs_baseline"] == 0.25


def test_latency_says_where_the_optimized_decoding_loses_per_pass():
    from harness.records import PolicyBenchRow
    from harness.reports import latency

    # optimized: 1 s over 5 passes (200 ms/pass, 3 tokens a pass); peer: 2 s over 20 passes (100 ms/pass)
    rows = [PolicyBenchRow("m", "optimized", i, 1.0, 5, 5, 15, False) for i in range(4)]
    rows += [PolicyBenchRow("m", "peer", i, 2.0, 20, 5, 20, False) for i in range(4)]
    lines = latency.readings(rows, [])
    assert any("loses to the peer on time per forward pass: 200 ms against 100 ms (2.00×)" in x
               and "3.00 generated tokens against the peer's 1.00" in x for x in lines), lines
    faster = [PolicyBenchRow("m", "optimized", i, 0.5, 10, 5, 15, False) for i in range(4)]
    assert not any("loses" in x for x in latency.readings(faster + rows[4:], []))


def test_latency_does_not_claim_an_overall_win_the_rows_do_not_show():
    from harness.records import PolicyBenchRow
    from harness.reports import latency

    # fewer passes (5 against 8), but each 3x dearer: the optimized cycle is slower overall (1.5 s against 1.0 s),
    # as the tiny model's rows on an H100 showed
    rows = [PolicyBenchRow("m", "optimized", i, 1.5, 5, 5, 15, False) for i in range(4)]
    rows += [PolicyBenchRow("m", "peer", i, 1.0, 8, 5, 8, False) for i in range(4)]
    (line,) = [x for x in latency.readings(rows, []) if "loses to the peer" in x]
    assert "wins overall" not in line and "its median cycle is 1.50× the peer's" in line
    winner = [PolicyBenchRow("m", "optimized", i, 0.9, 3, 5, 15, False) for i in range(4)]
    (line,) = [x for x in latency.readings(winner + rows[4:], []) if "loses to the peer" in x]
    assert "it wins overall by needing fewer passes" in line


def _trial(model: str, i: int, outcome: str, *, robot: str = "sim", validator: str = "none", task: str = "pickup"):
    from harness.records import TrialRow

    return TrialRow("s1", task, model, robot, "auto", "policy A", 101, i, "pick up the carrot", "en", outcome, "",
                    "2026-11-27T00:00:00", 1.0, 3, 0, 0, "", "", validator=validator)


def test_simulated_trials_are_their_own_rows_and_families_per_validator():
    from harness.reports import success
    from tests.reports import hand

    rows = [_trial("sim-verbalized", i, "success" if i < 8 else "failure") for i in range(10)]
    rows += [_trial("sim-at", i, "success" if i < 2 else "failure") for i in range(10)]
    rows += [_trial("sim-verbalized", i, "success" if i < 5 else "failure", validator="self") for i in range(10)]
    rows += [_trial("sim-at", i, "success" if i < 5 else "failure", validator="self") for i in range(10)]
    rows += [_trial("vlm2vla", i, "success", robot="widowx", validator="self") for i in range(4)]
    cells, problems, _ = success.our_cells(rows)
    assert not problems
    by = {(c.source, c.model): (c.counts.success, c.counts.n) for c in cells}
    assert by == {("ours (sim, validator none)", "sim-verbalized"): (8, 10),
                  ("ours (sim, validator none)", "sim-at"): (2, 10),
                  ("ours (sim, validator self)", "sim-verbalized"): (5, 10),
                  ("ours (sim, validator self)", "sim-at"): (5, 10), ("ours", "vlm2vla"): (4, 4)}
    comps = success.comparisons(cells, "vlm2vla")
    # in simulation the verbalized model is compared with its AT ablation, within one validator; the real robot's
    # vlm2vla has no other model here, so it has no test
    assert [(c.source, c.a.model, c.b.model) for c in comps] == [
        ("ours (sim, validator none)", "sim-verbalized", "sim-at"),
        ("ours (sim, validator self)", "sim-verbalized", "sim-at")]
    assert comps[0].p == __import__("pytest").approx(hand.fisher_two_sided(8, 2, 2, 8), rel=1e-6)
    lines = success.success_readings(cells, "vlm2vla")
    assert "ours (sim, validator none): sim-verbalized succeeds in pickup 80% (8/10" in "\n".join(lines)
    table = success.significance_table(comps, "vlm2vla")
    holm_col = [c.key for c in table.columns].index("p_holm")
    # one comparison per family: Holm leaves each p as it is
    assert [r[holm_col] for r in table.rows] == [c.p for c in comps]
