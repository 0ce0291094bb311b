"""Policy latency per action cycle: distribution per model and decoding variant, ratios against the baseline.

From `results/bench/policy_<model>.csv` (`vlm2vla bench policy`): median, mean, std, IQR, min and max of the
per-cycle wall time (as the paper reports it), mean decoder forward passes, prefill and generated tokens per cycle,
and the malformed-output rate; each non-baseline variant's median and forward passes as a ratio of the baseline of
the same model measured in the same run, and the optimized decoding's as a ratio of the peer's (`generate` with
xgrammar's logits processor and a reused prefix cache: what the targets compare against). The paper's A100 numbers
are a labelled reference row, not comparable hardware.
"""

from __future__ import annotations

import statistics
from collections import defaultdict

from harness.records import PolicyBenchRow
from harness.records.rows import ms_per_pass
from harness.records.stats import describe
from harness.reports.entry import OURS, Context, Entry
from harness.reports.figure import new_figure, palette, style
from harness.reports.inputs import load
from harness.reports.naming import VARIANT_ORDER, model_key, order_key
from harness.reports.paper import PAPER_CITATION, PAPER_LABEL, PaperLatencyRow, load_paper
from harness.reports.table import Column, Table

PRODUCE = "run `vlm2vla bench policy --model <model>` (writes results/bench/policy_<model>.csv)"
BASELINE = "baseline"
PEER = "peer"
OPTIMIZED = "optimized"


def _groups(rows: list[PolicyBenchRow]) -> dict[tuple[str, str], list[PolicyBenchRow]]:
    groups: dict[tuple[str, str], list[PolicyBenchRow]] = defaultdict(list)
    for r in rows:
        groups[(r.model, r.variant)].append(r)
    return dict(sorted(groups.items(), key=lambda kv: (model_key(kv[0][0]), order_key(VARIANT_ORDER, kv[0][1]))))


def _malformed_pct(group: list[PolicyBenchRow]) -> float:
    return 100.0 * sum(r.malformed for r in group) / len(group)


def _ratios(group: list[PolicyBenchRow], reference: list[PolicyBenchRow] | None) -> tuple[float | None, float | None]:
    """(median wall, mean forward passes) of `group` as multiples of `reference`'s (None without one), over the
    cycles both measured (a baseline run on every Nth cycle only is compared with those cycles)."""
    if reference is None:
        return None, None
    cycles = {r.cycle for r in reference} & {r.cycle for r in group}
    group, reference = [r for r in group if r.cycle in cycles], [r for r in reference if r.cycle in cycles]
    if not cycles:
        return None, None
    ref_median = describe([r.wall_s for r in reference]).median
    ref_passes = statistics.fmean(r.forward_passes for r in reference)
    median = describe([r.wall_s for r in group]).median
    passes = statistics.fmean(r.forward_passes for r in group)
    return (median / ref_median if ref_median else None, passes / ref_passes if ref_passes else None)


def latency_table(rows: list[PolicyBenchRow], paper: list[PaperLatencyRow]) -> Table:
    columns = [Column("source", "Source"), Column("model", "Model"), Column("variant", "Variant"),
               Column("cycles", "Cycles", align="r"), Column("malformed_pct", "Malformed %", "{:.1f}", "r"),
               Column("median_s", "Median s", "{:.3f}", "r"),
               Column("mean_s", "Mean s", "{:.3f}", "r"), Column("std_s", "Std s", "{:.3f}", "r"),
               Column("q25_s", "Q1 s", "{:.3f}", "r"), Column("q75_s", "Q3 s", "{:.3f}", "r"),
               Column("min_s", "Min s", "{:.3f}", "r"), Column("max_s", "Max s", "{:.3f}", "r"),
               Column("forward_passes", "Fwd passes", "{:.1f}", "r"),
               Column("prefill_tokens", "Prefill tok.", "{:.0f}", "r"),
               Column("generated_tokens", "Gen. tok.", "{:.1f}", "r"),
               Column("median_vs_baseline", "Median ×base", "{:.2f}", "r"),
               Column("passes_vs_baseline", "Passes ×base", "{:.2f}", "r"),
               Column("median_vs_peer", "Median ×peer", "{:.2f}", "r"),
               Column("passes_vs_peer", "Passes ×peer", "{:.2f}", "r")]
    out = []
    groups = _groups(rows)
    for (model, variant), group in groups.items():
        d = describe([r.wall_s for r in group])
        vs_base = _ratios(group, groups.get((model, BASELINE)) if variant != BASELINE else None)
        vs_peer = _ratios(group, groups.get((model, PEER)) if variant == OPTIMIZED else None)
        out.append([OURS, model, variant, d.n, _malformed_pct(group), d.median, d.mean, d.std, d.q25, d.q75, d.min,
                    d.max, statistics.fmean(r.forward_passes for r in group),
                    statistics.fmean(r.prefill_tokens for r in group),
                    statistics.fmean(r.generated_tokens for r in group), *vs_base, *vs_peer])
    for p in sorted(paper, key=lambda p: model_key(p.model)):
        out.append([PAPER_LABEL, p.model, p.hardware, p.n_cycles, None, p.median_s, p.mean_s, p.std_s, p.q25_s, p.q75_s,
                    p.min_s, p.max_s, None, None, None, None, None, None, None])
    notes = ["Per-cycle wall time; Q1/Q3 are the 25th/75th percentiles (numpy, linear interpolation), std is the "
             "sample standard deviation. ×base = this variant / the baseline of the same model in the same run; "
             "×peer = the optimized decoding / the peer (generate + xgrammar's logits processor on the same "
             "grammars, prefix cache reused), the comparison the targets use (median <= 0.5×, passes <= 0.6×). "
             "Ratios compare the cycles both variants ran: a baseline with fewer cycles ran on every Nth cycle only "
             "(`--baseline-every`), interleaved as the others.",
             "Malformed % = cycles whose action text did not parse (nothing moved): a fast variant that is mostly "
             "malformed is not a usable policy, so read its times with that rate.",
             f"Rows with source {PAPER_LABEL}: {PAPER_CITATION}, measured on other hardware (variant = the GPU); "
             "reference only."]
    return Table("latency", "Policy latency per action cycle", columns, out, notes)


def readings(rows: list[PolicyBenchRow], paper: list[PaperLatencyRow]) -> list[str]:
    lines = []
    groups = _groups(rows)
    for model in sorted({m for m, _ in groups}, key=model_key):
        parts = []
        for (m, variant), group in groups.items():
            if m != model:
                continue
            d = describe([r.wall_s for r in group])
            text = (f"{variant} median {d.median:.3g} s (IQR {d.q25:.3g}–{d.q75:.3g}, n={d.n}), "
                    f"{sum(r.malformed for r in group)}/{d.n} malformed")
            for reference, label in ((BASELINE, "baseline"), (PEER, "peer")):
                ref = groups.get((model, reference))
                if ref is None or variant == reference or (reference == PEER and variant != OPTIMIZED):
                    continue
                median, passes = _ratios(group, ref)
                if median is not None and passes is not None:
                    text += (f"; {median:.2f}× the {label} median, {passes:.2f}× its forward passes "
                             f"(the {label} malformed {_malformed_pct(ref):.0f}% of its cycles)")
            parts.append(text)
        lines.append(f"ours: {model}: " + "; ".join(parts))
        if (model, OPTIMIZED) in groups and (model, PEER) in groups:
            lines += _per_pass(model, groups[(model, OPTIMIZED)], groups[(model, PEER)])
    for p in paper:
        lines.append(f"paper: {p.model} on {p.hardware}: median {p.median_s} s, mean {p.mean_s} s, IQR "
                     f"{p.q25_s}–{p.q75_s} s, max {p.max_s} s over {p.n_cycles} cycles")
    return lines


def _per_pass(model: str, optimized: list[PolicyBenchRow], peer: list[PolicyBenchRow]) -> list[str]:
    """Where the optimized decoding does worse than the peer per forward pass, with the counts that say why (the
    rows hold wall time, passes and tokens; `vlm2vla bench policy` prints the finer counters)."""
    def per_pass(group: list[PolicyBenchRow]) -> tuple[float, float]:
        passes = sum(r.forward_passes for r in group)
        return ms_per_pass(sum(r.wall_s for r in group), passes), sum(r.generated_tokens for r in group) / passes

    (opt_ms, opt_tok), (peer_ms, peer_tok) = per_pass(optimized), per_pass(peer)
    if opt_ms <= peer_ms:
        return []
    return [f"ours: {model}: the optimized decoding loses to the peer on time per forward pass: {opt_ms:.0f} ms "
            f"against {peer_ms:.0f} ms ({opt_ms / peer_ms:.2f}×). Why: each of its passes carries {opt_tok:.2f} "
            f"generated tokens against the peer's {peer_tok:.2f} (tokens the grammar forces and prompt-lookup draft "
            "tokens ride in one pass and are verified there), and it computes the grammar's allowed set at every "
            f"position it samples or verifies; {_overall(optimized, peer)}."]


def _overall(optimized: list[PolicyBenchRow], peer: list[PolicyBenchRow]) -> str:
    """Whether needing fewer passes makes up for the dearer pass, by the median cycle (the benchmark's measure)."""
    ratio = statistics.median(r.wall_s for r in optimized) / statistics.median(r.wall_s for r in peer)
    if ratio < 1:
        return "it wins overall by needing fewer passes"
    return f"here its fewer passes do not make up for it: its median cycle is {ratio:.2f}× the peer's"


def latency_figure(rows: list[PolicyBenchRow]):
    groups = _groups(rows)
    models = sorted({m for m, _ in groups}, key=model_key)
    variants = sorted({v for _, v in groups}, key=lambda v: order_key(VARIANT_ORDER, v))
    colours = palette(variants)
    fig = new_figure(max(6.4, 3.0 * len(models) + 1.0), 3.8)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        present = [v for v in variants if (model, v) in groups]
        data = [[r.wall_s for r in groups[(model, v)]] for v in present]
        parts = ax.boxplot(data, patch_artist=True, widths=0.6, medianprops={"color": "0.1"},
                           flierprops={"markersize": 3})
        ax.set_xticks(range(1, len(present) + 1),
                      [f"{v}\n{_malformed_pct(groups[(model, v)]):.0f}% malformed" for v in present])
        for patch, v in zip(parts["boxes"], present, strict=True):
            patch.set_facecolor(colours[v])
        ax.set_title(model)
        ax.set_ylabel("wall time per cycle (s)")
        ax.set_ylim(bottom=0)
    fig.suptitle("Policy latency per action cycle, with each variant's malformed-output rate\n"
                 "(box: median and IQR; whiskers: 1.5 IQR)")
    return fig


def build(ctx: Context) -> list[Entry]:
    ours = load(ctx.results, "bench/policy_*.csv", PolicyBenchRow, label="policy benchmark", produce=PRODUCE)
    paper = load_paper(ctx.paper, "latency.csv", PaperLatencyRow)
    missing = [m for m in (ours.missing, paper.missing) if m]
    sources = ours.sources + paper.sources
    table = Entry("latency", "table", "Policy latency per action cycle", sources=sources, missing=missing,
                  problems=ours.problems + paper.problems)
    figure = Entry("latency", "figure", "Per-cycle latency distribution", sources=ours.sources,
                   missing=[ours.missing] if ours.missing else [])
    if ours.rows or paper.rows:
        table.files = ctx.write_table(latency_table(ours.rows, paper.rows))
        table.reading = readings(ours.rows, paper.rows)
    if ours.rows:
        with style():
            figure.files = ctx.write_figure(latency_figure(ours.rows), "latency")
        figure.reading = [line for line in table.reading if line.startswith(OURS)]
    return [table, figure]
