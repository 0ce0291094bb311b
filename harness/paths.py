"""Where the harness reads specs and writes results, caches and runs.

Every location can be moved with an environment variable so a checkout, an installed wheel and CI all agree.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _env_path(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).expanduser().resolve() if value else default


def experiments_dir() -> Path:
    """YAML specs (`experiments/`)."""
    return _env_path("VLM2VLA_EXPERIMENTS", REPO_ROOT / "experiments")


def results_dir() -> Path:
    """Everything an experiment measures (`results/`): CSVs, trial databases, run outputs."""
    return _env_path("VLM2VLA_RESULTS", REPO_ROOT / "results")


def reports_dir() -> Path:
    """Tables and figures regenerated from `results/`."""
    return _env_path("VLM2VLA_REPORTS", REPO_ROOT / "reports")


def runs_dir() -> Path:
    """Training runs (checkpoints, adapters); large, never committed."""
    return _env_path("VLM2VLA_RUNS", REPO_ROOT / "runs")


def cache_dir() -> Path:
    """Converted checkpoints and other derived artefacts that are expensive to rebuild but never committed."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vlm2vla"
    return _env_path("VLM2VLA_CACHE", default)
