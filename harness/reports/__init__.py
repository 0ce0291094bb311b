"""Reports: tables (Markdown, CSV, LaTeX) and figures (PNG, PDF) regenerated from `results/`.

Reads only result files (through `harness.records`), the paper's reference data (`results/paper/`) and specs; never
torch, models or hardware code, so any laptop with the `reports` extra can rebuild every table and figure.
Entry point: `build_reports(results, out)` (CLI: `vlm2vla report`).
"""

from harness.reports.build import ReportSummary, build_reports

__all__ = ["ReportSummary", "build_reports"]
