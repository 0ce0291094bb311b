"""Training loss curves, one per run (`results/train/<run>.csv`, the run's logged optimiser steps)."""

from __future__ import annotations

from pathlib import PurePosixPath

from matplotlib.ticker import MaxNLocator

from harness.records import TrainLogRow
from harness.records.trend import loss_trend
from harness.reports.entry import Context, Entry
from harness.reports.figure import new_figure, palette, style
from harness.reports.inputs import load
from harness.reports.table import Column, Table

PRODUCE = "train a model (`make train MODEL=<model>`); its loss log is read from results/train/<run>.csv"


def _runs(by_file: dict[str, list[TrainLogRow]]) -> dict[str, list[TrainLogRow]]:
    """Each file is one run, named after the file."""
    return {PurePosixPath(path).stem: sorted(rows, key=lambda r: r.step) for path, rows in by_file.items() if rows}


def training_table(runs: dict[str, list[TrainLogRow]]) -> Table:
    columns = [Column("run", "Run"), Column("logged_steps", "Logged", align="r"),
               Column("last_step", "Last step", align="r"), Column("epochs", "Epochs", "{:.2f}", "r"),
               Column("first_loss", "First loss", "{:.4f}", "r"), Column("last_loss", "Last loss", "{:.4f}", "r"),
               Column("min_loss", "Min loss", "{:.4f}", "r"), Column("last_lr", "Last lr", "{:.3g}", "r"),
               Column("tokens", "Tokens", align="r"), Column("elapsed_s", "Elapsed s", "{:.1f}", "r")]
    out = []
    for run, rows in sorted(runs.items()):
        out.append([run, len(rows), rows[-1].step, rows[-1].epoch, rows[0].loss, rows[-1].loss,
                    min(r.loss for r in rows), rows[-1].lr, rows[-1].tokens, rows[-1].elapsed_s])
    notes = ["Loss is the training cross-entropy on target tokens as logged; tokens and elapsed time are the "
             "values of the last logged step."]
    return Table("training", "Training runs", columns, out, notes)


def readings(runs: dict[str, list[TrainLogRow]]) -> list[str]:
    """Mean loss over the first and the last tenth of the logged steps (`harness.records.trend`)."""
    lines = []
    for run, rows in sorted(runs.items()):
        trend = loss_trend(rows)
        if trend is not None:
            lines.append(f"{run}: {trend.describe()}")
    return lines


def training_figure(runs: dict[str, list[TrainLogRow]]):
    colours = palette(sorted(runs))
    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    for run, rows in sorted(runs.items()):
        marker = "o" if len(rows) <= 30 else None
        ax.plot([r.step for r in rows], [r.loss for r in rows], color=colours[run], label=run, marker=marker,
                markersize=3, linewidth=1.2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("training loss")
    ax.legend(fontsize="x-small")
    ax.set_title("Training loss")
    return fig


def build(ctx: Context) -> list[Entry]:
    data = load(ctx.results, "train/*.csv", TrainLogRow, label="training logs", produce=PRODUCE)
    runs = _runs(data.by_file)
    table = Entry("training", "table", "Training runs, summary", sources=data.sources,
                  missing=[data.missing] if data.missing else [], problems=data.problems)
    figure = Entry("training", "figure", "Training loss curves", sources=data.sources, missing=list(table.missing))
    if runs:
        table.files = ctx.write_table(training_table(runs))
        table.reading = readings(runs)
        with style():
            figure.files = ctx.write_figure(training_figure(runs), "training")
        figure.reading = table.reading
    return [table, figure]
