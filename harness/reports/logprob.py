"""Fig. 3: how likely actions are under the untuned model, written as language vs as least-likely tokens.

From `results/mechanism/logprob_<model>.csv` (`vlm2vla logprob`): the per-example mean per-token log-probability
(teacher-forced) for each representation, as densities. The paper's values for Gemma-3-12B (read off its Fig. 3,
approximate) are drawn as labelled reference lines.
"""

from __future__ import annotations

import numpy as np
import seaborn as sns

from harness.records import LogprobRow
from harness.records.stats import describe
from harness.reports.entry import Context, Entry
from harness.reports.figure import new_figure, palette, style
from harness.reports.inputs import load
from harness.reports.naming import REPRESENTATION_ORDER, model_key, order_key
from harness.reports.paper import PAPER_LABEL, PaperLogprobRow, load_paper
from harness.reports.table import Column, Table

PRODUCE = "run `vlm2vla logprob --model <model>` (writes results/mechanism/logprob_<model>.csv)"


def _groups(rows: list[LogprobRow]) -> dict[tuple[str, str], list[LogprobRow]]:
    keys = sorted({(r.model, r.representation) for r in rows},
                  key=lambda k: (model_key(k[0]), order_key(REPRESENTATION_ORDER, k[1])))
    return {k: sorted((r for r in rows if (r.model, r.representation) == k), key=lambda r: r.example_id)
            for k in keys}


def logprob_table(rows: list[LogprobRow]) -> Table:
    columns = [Column("model", "Model"), Column("representation", "Representation"),
               Column("examples", "Examples", align="r"), Column("mean", "Mean", "{:.2f}", "r"),
               Column("median", "Median", "{:.2f}", "r"), Column("std", "Std", "{:.2f}", "r"),
               Column("min", "Min", "{:.2f}", "r"), Column("max", "Max", "{:.2f}", "r"),
               Column("tokens_mean", "Tokens/example", "{:.1f}", "r")]
    out = []
    for (model, rep), group in _groups(rows).items():
        d = describe([r.mean_logprob for r in group])
        out.append([model, rep, d.n, d.mean, d.median, d.std, d.min, d.max,
                    float(np.mean([r.n_tokens for r in group]))])
    notes = ["Per-example mean log-probability per target token (nats), teacher-forced under the untuned model; "
             "higher = the text is more natural to the model."]
    return Table("logprob", "Fig. 3: log-probability of actions under the untuned model", columns, out, notes)


def readings(rows: list[LogprobRow], paper: list[PaperLogprobRow]) -> list[str]:
    lines = []
    groups = _groups(rows)
    for model in sorted({m for m, _ in groups}, key=model_key):
        parts = [f"{rep} mean {describe([r.mean_logprob for r in g]).mean:.2f} (n={len(g)})"
                 for (m, rep), g in groups.items() if m == model]
        lines.append(f"ours: {model}: " + " vs ".join(parts) + " nats/token")
    if paper:
        parts = ", ".join(f"{p.representation} ≈ {p.mean_logprob}" for p in paper)
        lines.append(f"paper (approximate, read off Fig. 3, {paper[0].model}): {parts}")
    return lines


def logprob_figure(rows: list[LogprobRow], paper: list[PaperLogprobRow]):
    groups = _groups(rows)
    models = sorted({m for m, _ in groups}, key=model_key)
    reps = sorted({rep for _, rep in groups}, key=lambda r: order_key(REPRESENTATION_ORDER, r))
    colours = palette(reps)
    fig = new_figure(max(6.4, 4.2 * len(models)), 3.6)
    axes = fig.subplots(1, len(models), squeeze=False)[0]
    for ax, model in zip(axes, models, strict=True):
        for rep in reps:
            values = np.array([r.mean_logprob for r in groups.get((model, rep), [])])
            if values.size == 0:
                continue
            sns.histplot(x=values, ax=ax, stat="density", element="step", fill=True, alpha=0.25,
                         color=colours[rep], label=f"{rep} (n={values.size})",
                         bins=max(5, min(30, values.size // 3)))
            if values.size > 1 and np.ptp(values) > 0:
                sns.kdeplot(x=values, ax=ax, color=colours[rep], linewidth=1.5)
        for p in paper:
            if p.representation in colours:
                ax.axvline(p.mean_logprob, color=colours[p.representation], linestyle=":", linewidth=1.2)
        ax.set_title(model)
        ax.set_xlabel("mean log-prob per action token (nats)")
        ax.set_ylabel("density")
        ax.legend(fontsize="x-small", loc="upper left")
    title = "Log-probability of actions under the untuned model (Fig. 3)"
    if paper:
        title += f"\ndotted: {PAPER_LABEL}, {paper[0].model}, approximate"
    fig.suptitle(title)
    return fig


def build(ctx: Context) -> list[Entry]:
    data = load(ctx.results, "mechanism/logprob_*.csv", LogprobRow, label="log-probabilities", produce=PRODUCE)
    paper = load_paper(ctx.paper, "logprob.csv", PaperLogprobRow)
    missing = [data.missing] if data.missing else []
    table = Entry("logprob", "table", "Fig. 3 log-probabilities, summary", sources=data.sources + paper.sources,
                  missing=missing, problems=data.problems + paper.problems)
    figure = Entry("logprob", "figure", "Fig. 3: log-probability densities per representation",
                   sources=data.sources + paper.sources, missing=list(missing))
    if data.rows:
        table.files = ctx.write_table(logprob_table(data.rows))
        table.reading = readings(data.rows, paper.rows)
        with style():
            figure.files = ctx.write_figure(logprob_figure(data.rows, paper.rows), "logprob")
        figure.reading = table.reading
    return [table, figure]
