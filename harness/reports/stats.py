"""Statistics for the tables, delegated to scipy/statsmodels (nothing here re-derives a test or an interval).

- Success rate = successes / (successes + failures); `invalid` (the trial is redone) and `skip` are excluded from
  the rate and counted separately.
- 95 % Wilson score interval: `statsmodels.stats.proportion.proportion_confint(method="wilson")`.
- VLM2VLA vs another model on a task: two-sided Fisher's exact test on the 2×2 success/failure table
  (`scipy.stats.fisher_exact`); Holm's step-down adjustment over a family of tests
  (`statsmodels.stats.multitest.multipletests(method="holm")`).
- Latency summaries: numpy percentiles (linear interpolation) for the median and the IQR.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import fisher_exact
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

OUTCOMES = ("success", "failure", "invalid", "skip")
CONFIDENCE = 0.95


@dataclass(frozen=True)
class OutcomeCounts:
    success: int = 0
    failure: int = 0
    invalid: int = 0
    skip: int = 0

    @property
    def n(self) -> int:
        """Trials that count towards the rate."""
        return self.success + self.failure

    @property
    def rate(self) -> float | None:
        return self.success / self.n if self.n else None


def count_outcomes(outcomes: Iterable[str]) -> OutcomeCounts:
    """Tally outcomes; anything outside OUTCOMES is a caller error (the loader filters and reports those)."""
    tally = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        if outcome not in tally:
            raise ValueError(f"unknown trial outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        tally[outcome] += 1
    return OutcomeCounts(**tally)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for a binomial proportion; (None, None) when there are no trials."""
    if n <= 0:
        return None, None
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def fisher_p(success_a: int, n_a: int, success_b: int, n_b: int) -> float | None:
    """Two-sided Fisher's exact p-value for equal success rates; None when either side has no trials."""
    if n_a <= 0 or n_b <= 0:
        return None
    table = [[success_a, n_a - success_a], [success_b, n_b - success_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values over the non-missing entries (None stays None)."""
    present = [i for i, p in enumerate(pvalues) if p is not None]
    out: list[float | None] = [None] * len(pvalues)
    if present:
        adjusted = multipletests([pvalues[i] for i in present], method="holm")[1]
        for i, p in zip(present, adjusted, strict=True):
            out[i] = float(p)
    return out


@dataclass(frozen=True)
class Distribution:
    n: int
    median: float
    mean: float
    std: float  # sample standard deviation (ddof=1); 0 for a single value
    q25: float
    q75: float
    min: float
    max: float


def describe(values: Sequence[float]) -> Distribution:
    if not values:
        raise ValueError("describe() needs at least one value")
    a = np.asarray(values, dtype=float)
    q25, median, q75 = (float(x) for x in np.percentile(a, [25, 50, 75]))
    std = float(a.std(ddof=1)) if a.size > 1 else 0.0
    return Distribution(int(a.size), median, float(a.mean()), std, q25, q75, float(a.min()), float(a.max()))
