"""The forgetting grid (our extension of the paper's ablation): {verbalized, least-likely} × {LoRA, full}.

From `results/mechanism/forgetting_<model>.csv` (`vlm2vla forgetting`): each arm's retained probe knowledge
(`retention_pct` as recorded by the experiment = probe score / base probe score × 100) and action quality.
"""

from __future__ import annotations

from harness.records import ForgettingRow
from harness.reports.entry import Context, Entry
from harness.reports.figure import new_figure, palette, style
from harness.reports.inputs import load
from harness.reports.naming import ARM_ORDER, model_key, order_key
from harness.reports.table import Column, Table

PRODUCE = "run `vlm2vla forgetting --model <model>` (writes results/mechanism/forgetting_<model>.csv)"


def _sorted(rows: list[ForgettingRow]) -> list[ForgettingRow]:
    return sorted(rows, key=lambda r: (model_key(r.model), order_key(ARM_ORDER, r.arm), r.seed, r.steps))


def forgetting_table(rows: list[ForgettingRow]) -> Table:
    columns = [Column("model", "Model"), Column("arm", "Arm"), Column("representation", "Representation"),
               Column("method", "Method"), Column("steps", "Steps", align="r"),
               Column("probe_score", "Probe score", "{:.3f}", "r"),
               Column("retention_pct", "Retention %", "{:.1f}", "r"),
               Column("action_parse_rate", "Parse rate", "{:.3f}", "r"),
               Column("action_mae_cm", "Action MAE cm", "{:.2f}", "r"), Column("n_probe", "n probe", align="r"),
               Column("n_heldout", "n held-out", align="r"), Column("seed", "Seed", align="r")]
    out = [[r.model, r.arm, r.representation, r.method, r.steps, r.probe_score, r.retention_pct,
            r.action_parse_rate, r.action_mae_cm, r.n_probe, r.n_heldout, r.seed] for r in _sorted(rows)]
    notes = ["Retention % = probe score / the base model's probe score × 100 (as recorded by `vlm2vla forgetting`); "
             "the probe is scored by the model's own likelihood. Action MAE: mean absolute error of the decoded "
             "translation on held-out D_lan."]
    return Table("forgetting", "Forgetting grid: representation × fine-tuning method", columns, out, notes)


def readings(rows: list[ForgettingRow]) -> list[str]:
    lines = []
    for model in sorted({r.model for r in rows}, key=model_key):
        arms = {r.arm: r for r in _sorted(rows) if r.model == model and r.arm != "base"}
        if not arms:
            lines.append(f"{model}: only the base row so far")
            continue
        parts = ", ".join(f"{arm} {r.retention_pct:.0f}%" for arm, r in arms.items())
        line = f"{model}: retention {parts}"
        v, t = arms.get("verbalized-lora"), arms.get("least_likely-lora")
        if v and t:
            word = "more" if v.retention_pct > t.retention_pct else ("less" if v.retention_pct < t.retention_pct
                                                                   else "as much")
            line += (f"; under LoRA verbalized actions keep {word} knowledge than least-likely tokens "
                     f"({v.retention_pct:.1f}% vs {t.retention_pct:.1f}%)")
        lines.append(line)
    return lines


def forgetting_figure(rows: list[ForgettingRow]):
    rows = [r for r in _sorted(rows) if r.arm != "base"]
    models = sorted({r.model for r in rows}, key=model_key)
    arms = sorted({r.arm for r in rows}, key=lambda a: order_key(ARM_ORDER, a))
    colours = palette(arms)
    fig = new_figure(max(6.4, 3.0 + 1.0 * len(arms) * len(models)), 3.6)
    ax = fig.subplots()
    width = 0.8 / len(arms)
    for j, arm in enumerate(arms):
        xs, ys = [], []
        for i, model in enumerate(models):
            r = next((r for r in rows if r.model == model and r.arm == arm), None)
            if r is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(r.retention_pct)
        ax.bar(xs, ys, width, color=colours[arm], label=arm, edgecolor="0.25", linewidth=0.5)
    ax.axhline(100.0, color="0.2", linestyle="--", linewidth=1.0, label="base (100%)")
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("probe retention vs base (%)")
    fig.legend(fontsize="x-small", loc="outside right upper")
    ax.set_title("Retained knowledge after fine-tuning, per arm")
    return fig


def build(ctx: Context) -> list[Entry]:
    data = load(ctx.results, "mechanism/forgetting_*.csv", ForgettingRow, label="forgetting grid", produce=PRODUCE)
    table = Entry("forgetting", "table", "Forgetting grid", sources=data.sources,
                  missing=[data.missing] if data.missing else [], problems=data.problems)
    figure = Entry("forgetting", "figure", "Retention per fine-tuning arm", sources=data.sources,
                   missing=list(table.missing))
    if data.rows:
        table.files = ctx.write_table(forgetting_table(data.rows))
        table.reading = readings(data.rows)
        if any(r.arm != "base" for r in data.rows):
            with style():
                figure.files = ctx.write_figure(forgetting_figure(data.rows), "forgetting")
            figure.reading = table.reading
        else:
            figure.missing.append("no data yet (forgetting arms): only the base row is recorded so far")
    return [table, figure]
