"""The paper's published numbers (`results/paper/*.csv`, tracked in git): row types and loaders.

These are reference data, never measurements of ours: every table and figure labels them "paper". Counts of
successes are not published (only rates), so `successes_derived` is round-half-up(rate × n) and labelled derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from harness.paths import REPO_ROOT
from harness.reports.inputs import Loaded, load

PAPER_LABEL = "paper"
PAPER_CITATION = "Actions as Language (arXiv 2509.22195, ICLR 2026)"


def default_paper_dir() -> Path:
    """The reference data shipped with the repository (independent of where results/ was moved)."""
    return REPO_ROOT / "results" / "paper"


@dataclass
class PaperVQARow:
    """paper/vqa.csv: the VQA table; `scale` as published ("%" or "/2800")."""

    model: str  # our model spec
    paper_model: str
    benchmark: str  # VLMEvalKit dataset of experiments/vqa/paper.yaml
    label: str
    score: float
    scale: str
    note: str


@dataclass
class PaperSuccessRow:
    """paper/success.csv: Fig. 5 success rate per task and model."""

    task: str  # our task spec
    paper_task: str
    model: str  # our model spec
    paper_model: str
    rate_pct: float
    n_trials: int
    successes_derived: int  # NOT published: round-half-up(rate_pct * n_trials / 100)


@dataclass
class PaperLatencyRow:
    """paper/latency.csv: per-action-cycle latency as published."""

    model: str
    hardware: str
    n_cycles: int
    median_s: float
    mean_s: float
    std_s: float
    q25_s: float
    q75_s: float
    min_s: float
    max_s: float


@dataclass
class PaperLogprobRow:
    """paper/logprob.csv: approximate modes read off Fig. 3 (reference lines only)."""

    model: str
    representation: str
    mean_logprob: float
    note: str


def derive_successes(rate_pct: float, n_trials: int) -> int:
    """Round half up, so 4.5 successes count as 5 (Python's round() would give 4)."""
    return math.floor(rate_pct * n_trials / 100 + 0.5)


_PRODUCE = "the paper's reference data ships in git under results/paper/; restore it with `git checkout results/paper`"


def load_paper(paper_dir: Path, name: str, cls: type) -> Loaded:
    return load(paper_dir, name, cls, label=f"paper reference data ({name})", produce=_PRODUCE, prefix="paper/")


def check_derived(rows: list[PaperSuccessRow]) -> list[str]:
    """Problems when a derived count does not follow its rule (a hand edit of the CSV)."""
    return [f"`paper/success.csv`: {r.task}/{r.model}: successes_derived {r.successes_derived} != "
            f"round-half-up({r.rate_pct} × {r.n_trials} / 100) = {derive_successes(r.rate_pct, r.n_trials)}"
            for r in rows if r.successes_derived != derive_successes(r.rate_pct, r.n_trials)]


def fig3_reference(rows: list[PaperLogprobRow]) -> str:
    """The paper's Fig. 3 modes as one phrase for a printed comparison, e.g. "paper (gemma3-base, read off Fig. 3):
    verbalized about -2 and -0.9, least_likely about -11.1 nats/token"; empty without rows."""
    by_model: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        by_model.setdefault(r.model, {}).setdefault(r.representation, []).append(r.mean_logprob)
    return "; ".join(
        f"paper ({model}, read off Fig. 3): "
        + ", ".join(f"{rep} about {' and '.join(f'{v:g}' for v in values)}" for rep, values in reps.items())
        + " nats/token" for model, reps in by_model.items())
