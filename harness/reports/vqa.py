"""VQA forgetting: scores per model and benchmark, retention vs the untuned base, ours beside the paper's.

Headline metric per (model, suite, benchmark), from the newest run of that triple (largest `date`, then `run_dir`):
1. a metric named `Overall`, `Final Score` or `total` (case-insensitive) — VLMEvalKit's overall accuracy / ANLS /
   VQA score, OCRBench's final score;
2. otherwise, for MME, `perception` + `reasoning` (out of 2000 + 800 = 2800), as the paper reports MME;
3. otherwise the only metric there is; several candidates and none of the above is an input problem.
Scales: "%" as is; "/1000" (OCRBench) and any "/100" or "/1" are converted to a percentage, because the paper
prints OCRBench as a percentage (75.0 = 750/1000); "/2800" (MME) stays a raw sum. Retention % = score / base score
× 100 within one source and suite, where the base is the untuned spec with the same checkpoint (`naming.base_model`).

Chance: rows of the model `chance` are VLMEvalKit's score of a constant answer ("Yes", "A", "yes") on the same
benchmark (`harness.vqa.runner`). Every table, reading and panel shows it beside the models; a base that scores at
or below it has nothing to retain, so no retention is computed there (700/2800 on MME is answering "Yes" to all).
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict
from dataclasses import dataclass

from harness.records import CHANCE_MODEL, VQAScoreRow
from harness.records.metrics import retention_pct
from harness.reports.entry import OURS, Context, Entry
from harness.reports.figure import PAPER_ALPHA, PAPER_HATCH, model_palette, new_figure, style
from harness.reports.inputs import load
from harness.reports.naming import PAPER_SUITE, base_model, benchmark_key, model_key
from harness.reports.paper import PAPER_CITATION, PAPER_LABEL, PaperVQARow, load_paper
from harness.reports.table import Column, Table

HEADLINE_NAMES = ("overall", "final score", "total")
CHANCE_COLOUR = "#b2182b"
PRODUCE = "run `make vqa MODEL=<model> SUITE=paper|embedded` (writes results/vqa/scores.csv)"


@dataclass(frozen=True)
class Score:
    source: str  # ours | paper
    suite: str
    label: str
    model: str
    value: float  # on the display scale
    unit: str  # "%" or "/N"
    metric: str


def display_scale(score: float, scale: str) -> tuple[float, str]:
    """(value, unit) as tables show it; raises ValueError naming the scale when it is not understood."""
    if scale == "%":
        return score, "%"
    m = re.fullmatch(r"/(\d+(?:\.\d+)?)", scale.strip())
    if not m:
        raise ValueError(f"scale {scale!r} is not understood; expected '%' or '/N' (e.g. '/1000', '/2800')")
    total = float(m.group(1))
    if total in (1.0, 100.0, 1000.0):
        return score * 100.0 / total, "%"
    return score, f"/{m.group(1)}"


def _newest_run(rows: list[VQAScoreRow]) -> list[VQAScoreRow]:
    newest = max(rows, key=lambda r: (r.date, r.run_dir))
    if newest.run_dir:
        return [r for r in rows if r.run_dir == newest.run_dir]
    return [r for r in rows if r.date == newest.date]


def headline(rows: list[VQAScoreRow]) -> tuple[float, str, str]:
    """(value, unit, metric) of one (model, suite, benchmark) run; ValueError explains an ambiguous choice."""
    by_metric: dict[str, VQAScoreRow] = {}
    for r in rows:
        by_metric[r.metric.strip().lower()] = r
    for name in HEADLINE_NAMES:
        if name in by_metric:
            r = by_metric[name]
            return (*display_scale(r.score, r.scale), r.metric)
    bench = rows[0].benchmark
    if "MME" in bench.upper() and {"perception", "reasoning"} <= by_metric.keys():
        return by_metric["perception"].score + by_metric["reasoning"].score, "/2800", "perception + reasoning"
    if len(by_metric) == 1:
        r = rows[0]
        return (*display_scale(r.score, r.scale), r.metric)
    raise ValueError(f"no headline metric among {sorted(r.metric for r in rows)}; expected one named "
                     f"Overall, Final Score or total (or perception + reasoning for MME)")


def our_scores(rows: list[VQAScoreRow]) -> tuple[list[Score], list[str], int]:
    """Headline scores, problems, and how many rows older runs contributed (superseded)."""
    groups: dict[tuple[str, str, str], list[VQAScoreRow]] = defaultdict(list)
    for r in rows:
        groups[(r.suite, r.benchmark, r.model)].append(r)
    scores, problems, superseded = [], [], 0
    for (suite, bench, model), group in sorted(groups.items()):
        newest = _newest_run(group)
        superseded += len(group) - len(newest)
        try:
            value, unit, metric = headline(newest)
        except ValueError as e:
            problems.append(f"`vqa/scores.csv`: {model} / {suite} / {bench}: {e}")
            continue
        scores.append(Score(OURS, suite, newest[0].label, model, value, unit, metric))
    return scores, problems, superseded


def paper_scores(rows: list[PaperVQARow]) -> list[Score]:
    return [Score(PAPER_LABEL, PAPER_SUITE, r.label, r.model, *display_scale(r.score, r.scale), "as published")
            for r in rows]


Chance = dict[tuple[str, str], Score]  # (suite, benchmark label) -> the constant answer's score (ours)


def split_chance(scores: list[Score]) -> tuple[list[Score], Chance]:
    """(the models' scores, the constant answer's score per suite and benchmark)."""
    chance = {(s.suite, s.label): s for s in scores if s.model == CHANCE_MODEL and s.source == OURS}
    return [s for s in scores if s.model != CHANCE_MODEL], chance


def retention(scores: list[Score], chance: Chance | None = None) -> dict[Score, tuple[str, float | None]]:
    """score -> (base model, retention %) for fine-tuned models whose base was measured in the same place; the
    retention is None where the base scored 0 or at or below the constant answer."""
    index = {(s.source, s.suite, s.label, s.model): s for s in scores}
    chance = chance or {}
    out = {}
    for s in scores:
        base = base_model(s.model)
        ref = index.get((s.source, s.suite, s.label, base)) if base else None
        if ref is not None:
            floor = chance[(s.suite, s.label)].value if (s.suite, s.label) in chance else None
            out[s] = (base, retention_pct(s.value, ref.value, floor))
    return out


def vqa_table(scores: list[Score], ret: dict[Score, tuple[str, float | None]], chance: Chance) -> Table:
    index = {(s.source, s.suite, s.label, s.model): s for s in scores}
    rows_keys = sorted({(s.suite, s.label) for s in scores},
                       key=lambda k: (k[0] != PAPER_SUITE, k[0], benchmark_key(k[0], k[1])))
    models = sorted({s.model for s in scores}, key=model_key)
    columns = [Column("suite", "Suite"), Column("benchmark", "Benchmark"), Column("unit", "Unit"),
               Column("chance", "Chance", "{:.1f}", "r")]
    getters = []
    for model in models:
        for source in (OURS, PAPER_LABEL):
            mine = [s for s in scores if s.model == model and s.source == source]
            if not mine:
                continue
            tag = "" if source == OURS else f" [{PAPER_LABEL}]"
            suffix = "" if source == OURS else f"_{PAPER_LABEL}"
            columns.append(Column(f"{model}{suffix}", f"{model}{tag}", "{:.1f}", "r"))
            getters.append((source, model, "score"))
            if any(s in ret for s in mine):
                columns.append(Column(f"{model}_retention_pct{suffix}", f"{model} ret. %{tag}", "{:.0f}", "r"))
                getters.append((source, model, "retention"))
    rows = []
    for suite, label in rows_keys:
        units = {s.unit for s in scores if (s.suite, s.label) == (suite, label)}
        floor = chance.get((suite, label))
        row = [suite, label, "/".join(sorted(units)), floor.value if floor else None]
        for source, model, what in getters:
            s = index.get((source, suite, label, model))
            if s is None:
                row.append(None)
            elif what == "score":
                row.append(s.value)
            else:
                row.append(ret[s][1] if s in ret else None)
        rows.append(row)
    notes = [f"Columns marked [paper] are the published numbers of {PAPER_CITATION}; the others are ours.",
             "OCRBench is shown as a percentage (score out of 1000 / 10), as the paper prints it; MME is "
             "perception + reasoning out of 2800.",
             "Chance = VLMEvalKit's score of a constant answer (\"Yes\" to yes/no, \"A\" to multiple choice, "
             "\"yes\" to open questions) on the same benchmark; — where it was not measured.",
             "ret. % = score / score of the untuned base with the same checkpoint × 100 (same source and suite); "
             "not computed where the base scored at or below chance."]
    return Table("vqa", "VQA scores and retention vs the base model", columns, rows, notes)


def _chance_text(mine: list[Score], chance: Chance) -> str:
    keys = sorted({(s.suite, s.label) for s in mine}, key=lambda k: (k[0], benchmark_key(k[0], k[1])))
    measured = [f"{label} {chance[(suite, label)].value:.4g}{_unit(chance[(suite, label)].unit)}"
                for suite, label in keys if (suite, label) in chance]
    unmeasured = [label for suite, label in keys if (suite, label) not in chance]
    parts = [f"chance (constant answer): {', '.join(measured)}"] if measured else []
    if unmeasured:
        parts.append(f"chance not measured for {', '.join(unmeasured)}")
    return "; ".join(parts)


def _unit(unit: str) -> str:
    return "%" if unit == "%" else unit


def readings(scores: list[Score], ret: dict[Score, tuple[str, float | None]], chance: Chance | None = None) -> list[str]:
    chance = chance or {}
    lines = []
    for source in (OURS, PAPER_LABEL):
        mine = [s for s in scores if s.source == source]
        if not mine:
            continue
        derived = defaultdict(list)
        undefined = defaultdict(list)  # benchmarks where the base scored 0 or at/below chance: no retention
        for s in mine:
            if s in ret and ret[s][1] is not None:
                derived[(s.suite, s.model, ret[s][0])].append((ret[s][1], s.label))
            elif s in ret:
                undefined[(s.suite, s.model, ret[s][0])].append(s.label)
        for key in sorted(set(derived) | set(undefined), key=lambda k: (k[0], model_key(k[1]))):
            suite, model, base = key
            values, left = derived.get(key, []), undefined.get(key, [])
            if len(values) > 1:
                lo, hi = min(values), max(values)
                mean = statistics.fmean(v for v, _ in values)
                text = (f"{model} retains {lo[0]:.0f}–{hi[0]:.0f}% of {base}'s score over {len(values)} benchmarks "
                        f"(mean {mean:.0f}%; lowest {lo[1]} {lo[0]:.0f}%, highest {hi[1]} {hi[0]:.0f}%)")
            elif values:
                text = f"{model} retains {values[0][0]:.0f}% of {base}'s score on {values[0][1]} (one benchmark)"
            else:
                text = f"{model}: no retention vs {base}"
            if left:
                text += f"; no retention where {base} scored at or below chance (or 0): {', '.join(sorted(left))}"
            suite_mine = [s for s in mine if s.suite == suite]
            extra = _chance_text(suite_mine, chance)
            lines.append(f"{source} (suite {suite}): {text}" + (f"; {extra}" if extra else ""))
        if not derived and not undefined:
            suites = sorted({s.suite for s in mine})
            models = sorted({s.model for s in mine}, key=model_key)
            extra = _chance_text(mine, chance)
            lines.append(f"{source}: {len(models)} model(s) ({', '.join(models)}) on suite(s) {', '.join(suites)}; "
                         "no fine-tuned model with its base measured, so no retention" + (f"; {extra}" if extra else ""))
    return lines


def vqa_figure(scores: list[Score], ret: dict[Score, tuple[str, float | None]], chance: Chance):
    facets = sorted({(s.suite, s.label) for s in scores},
                    key=lambda k: (k[0] != PAPER_SUITE, k[0], benchmark_key(k[0], k[1])))
    models = sorted({s.model for s in scores}, key=model_key)
    colours = model_palette(models)
    index = {(s.source, s.suite, s.label, s.model): s for s in scores}
    ncols = min(4, len(facets))
    nrows = -(-len(facets) // ncols)
    fig = new_figure(3.0 * ncols, 2.6 * nrows + 0.6)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    both = {s.source for s in scores} == {OURS, PAPER_LABEL}
    width = 0.4 if both else 0.6
    offsets = ((-width / 2, OURS), (width / 2, PAPER_LABEL)) if both else ((0.0, OURS), (0.0, PAPER_LABEL))
    for ax, (suite, label) in zip(axes.flat, facets, strict=False):
        present = [m for m in models if any((src, suite, label, m) in index for src in (OURS, PAPER_LABEL))]
        for x, model in enumerate(present):
            for offset, source in offsets:
                s = index.get((source, suite, label, model))
                if s is None:
                    continue
                paper = source == PAPER_LABEL
                ax.bar(x + offset, s.value, width, color=colours[model], alpha=PAPER_ALPHA if paper else 1.0,
                       hatch=PAPER_HATCH if paper else None, edgecolor="0.25", linewidth=0.5)
                if s.value == 0:  # a zero score must not look like a missing bar
                    ax.annotate("0", (x + offset, 0), xytext=(0, 2), textcoords="offset points", ha="center",
                                va="bottom", fontsize="x-small")
        for source, ls in ((OURS, "--"), (PAPER_LABEL, ":")):
            bases = sorted({ret[s][0] for s in ret if (s.source, s.suite, s.label) == (source, suite, label)})
            for base in bases:
                ref = index.get((source, suite, label, base))
                if ref is not None:
                    ax.axhline(ref.value, color="0.2", linestyle=ls, linewidth=1.0)
        if (suite, label) in chance:
            ax.axhline(chance[(suite, label)].value, color=CHANCE_COLOUR, linestyle="-.", linewidth=1.0)
        ax.set_ylim(bottom=0)  # scores are never negative, also when every bar is 0
        units = sorted({s.unit for s in scores if (s.suite, s.label) == (suite, label)})
        ax.set_title(label if suite == PAPER_SUITE else f"{label} ({suite})")
        ax.set_ylabel("/".join(units))
        ax.set_xticks(range(len(present)), present, rotation=30, ha="right", fontsize="x-small")
        ax.set_xlim(-0.6, len(present) - 0.4)
    for ax in list(axes.flat)[len(facets):]:
        ax.set_axis_off()
    _legend(fig, scores, ret, bool(chance))
    fig.suptitle("VQA scores per benchmark; horizontal lines mark the untuned base model and chance")
    return fig


def _legend(fig, scores: list[Score], ret, chance: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    sources = {s.source for s in scores}
    handles = []
    if OURS in sources:
        handles.append(Patch(facecolor="0.6", edgecolor="0.25", label="ours"))
    if PAPER_LABEL in sources:
        handles.append(Patch(facecolor="0.6", edgecolor="0.25", hatch=PAPER_HATCH, alpha=PAPER_ALPHA,
                             label="paper (published)"))
    for source, ls in ((OURS, "--"), (PAPER_LABEL, ":")):
        bases = sorted({ret[s][0] for s in ret if s.source == source})
        for base in bases:
            handles.append(Line2D([], [], color="0.2", linestyle=ls, label=f"{base} ({source})"))
    if chance:
        handles.append(Line2D([], [], color=CHANCE_COLOUR, linestyle="-.", label="chance (constant answer)"))
    fig.legend(handles=handles, loc="outside lower center", ncols=max(1, len(handles)), fontsize="small")


def build(ctx: Context) -> list[Entry]:
    ours = load(ctx.results, "vqa/scores.csv", VQAScoreRow, label="VQA scores", produce=PRODUCE)
    paper = load_paper(ctx.paper, "vqa.csv", PaperVQARow)
    scores, problems, superseded = our_scores(ours.rows)
    scores, chance = split_chance(scores)
    problems = ours.problems + problems + paper.problems
    scores += paper_scores(paper.rows)
    missing = [m for m in (ours.missing, paper.missing) if m]
    sources = ours.sources + paper.sources
    table = Entry("vqa", "table", "VQA scores and retention vs the base model", sources=sources, missing=missing,
                  problems=problems)
    figure = Entry("vqa", "figure", "VQA scores, grouped by benchmark, base as reference", sources=sources,
                   missing=list(missing))
    if not scores:
        return [table, figure]
    ret = retention(scores, chance)
    t = vqa_table(scores, ret, chance)
    if superseded:
        t.notes.append(f"{superseded} row(s) of older runs superseded by a newer run of the same model, suite "
                       "and benchmark.")
    table.files = ctx.write_table(t)
    table.reading = readings(scores, ret, chance)
    with style():
        figure.files = ctx.write_figure(vqa_figure(scores, ret, chance), "vqa")
    figure.reading = table.reading[:1]
    return [table, figure]
