"""Regenerate `reports/` from `results/`: every section, then the index, then remove what this run did not write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.reports import (
    environments,
    forgetting,
    index,
    latency,
    logprob,
    naming,
    ranking,
    success,
    training,
    vqa,
)
from harness.reports.entry import Context, Entry
from harness.reports.paper import default_paper_dir

SECTIONS = (vqa, success, ranking, forgetting, logprob, training, latency)
MANAGED_DIRS = ("tables", "figures")


@dataclass
class ReportSummary:
    out: Path
    entries: list[Entry]
    written: list[Path]

    @property
    def problems(self) -> list[str]:
        return list(dict.fromkeys(p for e in self.entries for p in e.problems))

    @property
    def missing(self) -> list[str]:
        return list(dict.fromkeys(m for e in self.entries for m in e.missing))


def _order(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.kind == "table"] + [e for e in entries if e.kind == "figure"]


def _remove_stale(ctx: Context) -> None:
    """A table or figure whose inputs disappeared must not survive from an earlier run."""
    keep = {p.resolve() for p in ctx.written}
    for sub in MANAGED_DIRS:
        folder = ctx.out / sub
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.resolve() not in keep:
                path.unlink()


def build_reports(results: Path, out: Path, paper: Path | None = None, focus: str = "vlm2vla") -> ReportSummary:
    """Read `results` (and the paper's reference data in `paper`) and rewrite `out`; never raises on missing data."""
    naming.clear_caches()
    ctx = Context(Path(results), Path(paper) if paper else default_paper_dir(), Path(out), focus)
    entries: list[Entry] = []
    for section in SECTIONS:
        name = section.__name__.rsplit(".", 1)[-1]
        try:
            entries += section.build(ctx)
        except ValueError as e:  # malformed values inside otherwise readable files
            entries.append(Entry(name, "table", f"{name} (not generated)", problems=[f"{name}: {e}"]))
    entries += environments.build(ctx, entries)
    entries = _order(entries)
    ctx.write_index(index.render(entries))
    _remove_stale(ctx)
    return ReportSummary(ctx.out, entries, list(ctx.written))
