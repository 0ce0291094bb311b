"""Robot success rates per task × model (95 % Wilson intervals), and VLM2VLA vs each other model (Fisher's exact).

Ours come from `results/robot/trials*.csv` (exports of the trial log, `vlm2vla trials export`); identical rows that
appear in two exports are counted once. Trials in the simulator (`--robot sim`, issue 20) are their own sources, one per
validator ("ours (sim, validator none)"), each tested as its own family: there the simulator's verbalized model is
compared with its AT ablation. The paper's Fig. 5 rates sit beside them, labelled; their intervals and
tests use success counts derived from the published rates (see results/paper/README.md), labelled as derived.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import astuple, dataclass

from harness.records import TrialRow
from harness.records.outcomes import OUTCOMES, OutcomeCounts, count_outcomes
from harness.records.stats import fisher_p, holm, wilson_interval
from harness.reports.entry import OURS, SIM_ROBOT, Context, Entry, sim_source
from harness.reports.figure import PAPER_ALPHA, PAPER_HATCH, model_palette, new_figure, style
from harness.reports.inputs import load
from harness.reports.naming import SIM_FOCUS, model_key, planned_trials, task_key
from harness.reports.paper import PAPER_CITATION, PAPER_LABEL, PaperSuccessRow, check_derived, load_paper
from harness.reports.table import Column, Table

PRODUCE = ("run `make robot-trials TASK=<task> MODEL=<model> ROBOT=widowx|sim`, then `vlm2vla trials export` "
           "(writes results/robot/trials.csv)")
DERIVED_NOTE = "successes derived"
ALPHA = 0.05


@dataclass(frozen=True)
class Cell:
    source: str  # ours | paper
    task: str
    model: str
    counts: OutcomeCounts
    planned: int | None
    published_rate: float | None = None  # paper: the rate as printed (%), shown instead of the derived one

    @property
    def rate_pct(self) -> float | None:
        if self.published_rate is not None:
            return self.published_rate
        return None if self.counts.rate is None else self.counts.rate * 100

    def ci_pct(self) -> tuple[float | None, float | None]:
        lo, hi = wilson_interval(self.counts.success, self.counts.n)
        return (None, None) if lo is None else (lo * 100, hi * 100)


def our_cells(rows: list[TrialRow]) -> tuple[list[Cell], list[str], int]:
    """Cells, problems (unknown outcomes), and how many duplicate rows were dropped. Superseded rows (a trial the
    operator redid, a session declared invalid) are kept in the log but count for nothing here."""
    seen, unique = set(), []
    for r in rows:
        if r.superseded:
            continue
        key = astuple(r)
        if key not in seen:
            seen.add(key)
            unique.append(r)
    bad = [r for r in unique if r.outcome not in OUTCOMES]
    problems = []
    if bad:
        which = ", ".join(sorted({f"{r.task}/{r.model}#{r.trial_index}={r.outcome!r}" for r in bad})[:5])
        problems.append(f"`robot/trials*.csv`: {len(bad)} trial(s) with an outcome outside {', '.join(OUTCOMES)} "
                        f"were left out ({which}); fix them in the trial log and export again")
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in unique:
        if r.outcome in OUTCOMES:
            groups[(sim_source(r.validator) if r.robot == SIM_ROBOT else OURS, r.task, r.model)].append(r.outcome)
    cells = [Cell(source, task, model, count_outcomes(outcomes), planned_trials(task))
             for (source, task, model), outcomes in groups.items()]
    return cells, problems, len([r for r in rows if not r.superseded]) - len(unique)


def paper_cells(rows: list[PaperSuccessRow]) -> list[Cell]:
    return [Cell(PAPER_LABEL, r.task, r.model,
                 OutcomeCounts(success=r.successes_derived, failure=r.n_trials - r.successes_derived),
                 r.n_trials, r.rate_pct) for r in rows]


def source_key(source: str) -> tuple[int, str]:
    """Ours on the real robot, ours in simulation (by validator), then the paper."""
    return (0 if source == OURS else 2 if source == PAPER_LABEL else 1, source)


def sources_of(items: list[Cell] | list[Comparison]) -> list[str]:
    """The sources of cells or comparisons, in report order."""
    return sorted({c.source for c in items}, key=source_key)


def focus_of(source: str, focus: str) -> str:
    """The model a source's tests compare against the others: the simulator's verbalized model in simulation."""
    return focus if source in (OURS, PAPER_LABEL) else SIM_FOCUS


def _sorted(cells: list[Cell]) -> list[Cell]:
    return sorted(cells, key=lambda c: (source_key(c.source)[0] == 1, task_key(c.task), model_key(c.model),
                                        source_key(c.source)))


def success_table(cells: list[Cell]) -> Table:
    columns = [Column("source", "Source"), Column("task", "Task"), Column("model", "Model"),
               Column("successes", "Successes", align="r"), Column("n", "n", align="r"),
               Column("planned", "Planned", align="r"), Column("rate_pct", "Rate %", "{:.1f}", "r"),
               Column("ci95_low_pct", "95% CI low", "{:.1f}", "r"), Column("ci95_high_pct", "95% CI high", "{:.1f}", "r"),
               Column("invalid", "Invalid", align="r"), Column("skip", "Skip", align="r"), Column("note", "Note")]
    rows = []
    for c in _sorted(cells):
        lo, hi = c.ci_pct()
        paper = c.source == PAPER_LABEL
        rows.append([c.source, c.task, c.model, c.counts.success, c.counts.n, c.planned, c.rate_pct, lo, hi,
                     None if paper else c.counts.invalid, None if paper else c.counts.skip,
                     DERIVED_NOTE if paper else ""])
    notes = ["Rate = successes / n with n = successes + failures; invalid (redone) and skipped trials are excluded "
             "and counted. 95% CI: Wilson score interval (statsmodels).",
             f"Rows with source {PAPER_LABEL} are Fig. 5 of {PAPER_CITATION}: the rate is as published; successes are "
             "derived as round-half-up(rate × n), and the CI uses those derived counts."]
    return Table("success", "Robot success rate per task and model", columns, rows, notes)


@dataclass(frozen=True)
class Comparison:
    source: str
    task: str
    a: Cell
    b: Cell
    p: float | None


def comparisons(cells: list[Cell], focus: str) -> list[Comparison]:
    """Ours first, then ours in simulation, then the paper's; tasks and models in their fixed order. Each source's
    focus (`focus_of`) against every other model of that source on the same task."""
    out = []
    index = {(c.source, c.task, c.model): c for c in cells}
    for c in sorted(cells, key=lambda c: (source_key(c.source), task_key(c.task), model_key(c.model))):
        f = focus_of(c.source, focus)
        a = index.get((c.source, c.task, f))
        if c.model == f or a is None:
            continue
        out.append(Comparison(c.source, c.task, a, c, fisher_p(a.counts.success, a.counts.n, c.counts.success,
                                                                  c.counts.n)))
    return out


def significance_table(comps: list[Comparison], focus: str) -> Table:
    adjusted: dict[Comparison, float | None] = {}
    for source in sources_of(comps):
        family = [c for c in comps if c.source == source]
        adjusted.update(zip(family, holm([c.p for c in family]), strict=True))
    columns = [Column("source", "Source"), Column("task", "Task"), Column("model_a", "Model A"),
               Column("a_successes", "A succ.", align="r"), Column("a_n", "A n", align="r"),
               Column("model_b", "Model B"), Column("b_successes", "B succ.", align="r"),
               Column("b_n", "B n", align="r"), Column("diff_pp", "A − B (pp)", "{:+.1f}", "r"),
               Column("p_fisher", "p (Fisher)", "{:.3g}", "r"), Column("p_holm", "p (Holm)", "{:.3g}", "r"),
               Column("note", "Note")]
    rows = []
    for c in comps:
        ra, rb = c.a.counts.rate, c.b.counts.rate
        diff = None if ra is None or rb is None else (ra - rb) * 100
        rows.append([c.source, c.task, c.a.model, c.a.counts.success, c.a.counts.n, c.b.model, c.b.counts.success,
                     c.b.counts.n, diff, c.p, adjusted[c],
                     "derived counts" if c.source == PAPER_LABEL else ("no trials" if c.p is None else "")])
    notes = [f"Two-sided Fisher's exact test (scipy) of {focus} (in simulation: {SIM_FOCUS}) vs each other model "
             "of the same source on the same task; Holm's adjustment (statsmodels) over all comparisons of one "
             "source.",
             f"Rows with source {PAPER_LABEL} test counts derived from the published rates (n = 30, 90 for "
             "pickup-multilingual), so their p-values are approximate."]
    return Table("significance", f"{focus} vs each other model per task (Fisher's exact test)", columns, rows, notes)


def success_readings(cells: list[Cell], focus: str) -> list[str]:
    lines = []
    for source in sources_of(cells):
        mine = [c for c in _sorted(cells) if c.source == source and c.counts.n]
        if not mine:
            continue
        source_focus = focus_of(source, focus)
        focus_cells = [c for c in mine if c.model == source_focus]
        if focus_cells:
            parts = []
            for c in focus_cells:
                lo, hi = c.ci_pct()
                parts.append(f"{c.task} {c.rate_pct:.0f}% ({c.counts.success}/{c.counts.n}"
                             f"{' derived' if source == PAPER_LABEL else ''}, CI {lo:.0f}–{hi:.0f}%)")
            lines.append(f"{source}: {source_focus} succeeds in " + "; ".join(parts))
        best = []
        for task in sorted({c.task for c in mine}, key=task_key):
            top = max((c for c in mine if c.task == task), key=lambda c: (c.rate_pct, -model_key(c.model)[0]))
            best.append(f"{task} {top.model} {top.rate_pct:.0f}%")
        trials = sum(c.counts.n for c in mine)
        extra = ""
        if source != PAPER_LABEL:
            extra = (f", {sum(c.counts.invalid for c in mine)} invalid and {sum(c.counts.skip for c in mine)} "
                     "skipped left out")
        lines.append(f"{source}: {trials} scored trials{extra}; highest rate per task: " + "; ".join(best))
    return lines


def significance_readings(comps: list[Comparison], focus: str) -> list[str]:
    lines = []
    for source in sources_of(comps):
        family = [c for c in comps if c.source == source and c.p is not None]
        if not family:
            continue
        adjusted = holm([c.p for c in family])
        sig = [(c, p) for c, p in zip(family, adjusted, strict=True) if p < ALPHA]
        label = f"{source}{' (derived counts)' if source == PAPER_LABEL else ''}"
        if sig:
            parts = [f"{c.task} vs {c.b.model} ({'higher' if c.a.counts.rate > c.b.counts.rate else 'lower'}, "
                     f"p={p:.2g})" for c, p in sig]
            lines.append(f"{label}: {focus_of(source, focus)} differs at p < {ALPHA} after Holm in {len(sig)} of {len(family)} "
                         f"comparisons: " + "; ".join(parts))
        else:
            c0 = min(family, key=lambda c: c.p)
            lines.append(f"{label}: no difference at p < {ALPHA} after Holm in {len(family)} comparisons "
                         f"(smallest raw p = {c0.p:.2g}, {c0.task} vs {c0.b.model})")
    return lines


def success_figure(cells: list[Cell]):
    sources = [s for s in sources_of(cells) if any(c.source == s and c.counts.n for c in cells)]
    colours = model_palette(c.model for c in cells)
    fig = new_figure(9.0, 2.9 * len(sources) + 0.5)
    axes = fig.subplots(len(sources), 1, squeeze=False)[:, 0]
    for ax, source in zip(axes, sources, strict=True):
        mine = [c for c in cells if c.source == source and c.counts.n]
        tasks = sorted({c.task for c in mine}, key=task_key)
        models = sorted({c.model for c in mine}, key=model_key)
        width = 0.8 / len(models)
        for j, model in enumerate(models):
            xs, ys, err_lo, err_hi = [], [], [], []
            for i, task in enumerate(tasks):
                c = next((c for c in mine if c.task == task and c.model == model), None)
                if c is None:
                    continue
                lo, hi = c.ci_pct()
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(c.rate_pct)
                err_lo.append(max(c.rate_pct - lo, 0.0))
                err_hi.append(max(hi - c.rate_pct, 0.0))
            paper = source == PAPER_LABEL
            ax.bar(xs, ys, width, color=colours[model], label=model, edgecolor="0.25", linewidth=0.5,
                   hatch=PAPER_HATCH if paper else None, alpha=PAPER_ALPHA if paper else 1.0)
            ax.errorbar(xs, ys, yerr=[err_lo, err_hi], fmt="none", ecolor="0.15", elinewidth=0.9, capsize=2)
        ax.set_xticks(range(len(tasks)), tasks)
        ax.set_ylim(0, 100)
        ax.set_ylabel("success rate (%)")
        ax.set_title("paper (published rates; 95% CI from derived counts)" if source == PAPER_LABEL else source)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="x-small")
    fig.suptitle("Robot success rate with 95% Wilson intervals")
    return fig


def build(ctx: Context) -> list[Entry]:
    ours = load(ctx.results, "robot/trials*.csv", TrialRow, label="robot trials", produce=PRODUCE)
    paper = load_paper(ctx.paper, "success.csv", PaperSuccessRow)
    cells, problems, duplicates = our_cells(ours.rows)
    problems = ours.problems + problems + paper.problems + check_derived(paper.rows)
    cells += paper_cells(paper.rows)
    missing = [m for m in (ours.missing, paper.missing) if m]
    sources = ours.sources + paper.sources
    entries = {
        "table": Entry("success", "table", "Robot success rate per task and model (95% Wilson CI)", sources=sources,
                       missing=list(missing), problems=problems),
        "significance": Entry("significance", "table", f"{ctx.focus} vs each other model per task (Fisher's exact)",
                              sources=sources, missing=list(missing)),
        "figure": Entry("success", "figure", "Robot success rates with 95% CI error bars", sources=sources,
                        missing=list(missing)),
    }
    if not cells:
        return list(entries.values())
    table = success_table(cells)
    if duplicates:
        table.notes.append(f"{duplicates} duplicate row(s) (the same trial in two exports) counted once.")
    entries["table"].files = ctx.write_table(table)
    entries["table"].reading = success_readings(cells, ctx.focus)
    comps = comparisons(cells, ctx.focus)
    if not any(c.source == OURS for c in comps) and any(c.source == OURS for c in cells):
        entries["significance"].missing.append(f"no data yet (significance, ours): no trials of {ctx.focus} beside "
                                               "another model on the same task (choose the model with `--focus`)")
    if comps:
        entries["significance"].files = ctx.write_table(significance_table(comps, ctx.focus))
        entries["significance"].reading = significance_readings(comps, ctx.focus)
    if any(c.counts.n for c in cells):
        with style():
            entries["figure"].files = ctx.write_figure(success_figure(cells), "success")
        entries["figure"].reading = entries["table"].reading[:1]
    return list(entries.values())
