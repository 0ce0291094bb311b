"""What a report section produces (`Entry`) and where it writes (`Context`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

from harness.records.atomic import atomic_write_text
from harness.reports import figure as fig_io
from harness.reports.inputs import Source
from harness.reports.table import Table, to_csv, to_latex, to_markdown

OURS = "ours"
SIM_ROBOT = "sim"  # trials on this robot are ours in simulation, reported apart from the real robot's


def sim_source(validator: str) -> str:
    """The source label of our simulated trials under one validator: each is its own family of rows and tests."""
    return f"{OURS} (sim, validator {validator or 'none'})"


@dataclass
class Entry:
    """One table or figure of the index, with its one-line reading and provenance."""

    key: str
    kind: str  # table | figure
    title: str
    reading: list[str] = field(default_factory=list)  # computed from the data
    sources: list[Source] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # written, relative to the output directory
    missing: list[str] = field(default_factory=list)  # "no data yet" reasons (the entry may show paper data only)
    problems: list[str] = field(default_factory=list)  # inputs that could not be read
    flags: list[str] = field(default_factory=list)  # readable, but read with care (e.g. mixed environments)


@dataclass
class Context:
    results: Path
    paper: Path
    out: Path
    focus: str = "vlm2vla"  # the model the significance tests compare against every other
    written: list[Path] = field(default_factory=list)

    def _write_text(self, path: Path, text: str) -> None:
        atomic_write_text(path, text, encoding="utf-8", newline="\n")
        self.written.append(path)

    def write_table(self, table: Table) -> list[str]:
        stem = self.out / "tables" / table.key
        for suffix, render in ((".md", to_markdown), (".csv", to_csv), (".tex", to_latex)):
            self._write_text(stem.with_suffix(suffix), render(table))
        return [f"tables/{table.key}{s}" for s in (".md", ".csv", ".tex")]

    def write_figure(self, fig: Figure, key: str) -> list[str]:
        paths = fig_io.save(fig, self.out / "figures" / key)
        self.written += paths
        return [p.relative_to(self.out).as_posix() for p in paths]

    def write_index(self, text: str) -> None:
        self._write_text(self.out / "README.md", text)
