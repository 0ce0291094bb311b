"""`vlm2vla report`: regenerate reports/ (tables and figures) from results/."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.paths import reports_dir, results_dir


def report(
    results: Path = typer.Option(None, "--results", help="Results directory to read (default: results/, or "
                                 "$VLM2VLA_RESULTS)."),
    out: Path = typer.Option(None, "--out", help="Directory to (re)write: tables/, figures/ and README.md "
                             "(default: reports/, or $VLM2VLA_REPORTS). Files in tables/ and figures/ that this run "
                             "did not write are removed (stale); anything else there is left alone."),
    paper: Path = typer.Option(None, "--paper", help="The paper's reference data (default: this repository's "
                               "results/paper/, tracked in git)."),
    focus: str = typer.Option("vlm2vla", "--focus", help="Model that the significance tests compare with every "
                              "other model on the same task."),
) -> None:
    """Regenerate every table (Markdown, CSV, LaTeX) and figure (PNG, PDF) from the results directory.

    Missing inputs become explicit "no data yet" entries in README.md, never a crash. The same inputs give
    byte-identical files. Exit status 1 when an input file could not be read (everything else is still written).
    """
    from harness.reports import build_reports  # matplotlib/scipy load only when this command runs

    results = results or results_dir()
    out = out or reports_dir()
    if not results.is_dir():
        typer.echo(f"note: results directory {results} does not exist; every entry will say 'no data yet'", err=True)
    summary = build_reports(results, out, paper, focus)
    for e in summary.entries:
        if e.files:
            stem = e.files[0].rsplit(".", 1)[0]
            exts = ",".join(f.rsplit(".", 1)[1] for f in e.files)
            typer.echo(f"{e.kind:<6} {stem}.{{{exts}}}")
    for m in summary.missing:
        typer.echo(m)
    for p in summary.problems:
        typer.echo(f"input problem: {p}", err=True)
    n_tables = sum(1 for e in summary.entries if e.kind == "table" and e.files)
    n_figures = sum(1 for e in summary.entries if e.kind == "figure" and e.files)
    typer.echo(f"reports written to {out} ({n_tables} tables, {n_figures} figures, index {out / 'README.md'})")
    if summary.problems:
        raise typer.Exit(1)
