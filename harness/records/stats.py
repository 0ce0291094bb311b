"""Statistics for the tables and the forgetting grid, delegated to scipy/statsmodels (nothing re-derives a test).

- 95 % Wilson score interval: `statsmodels.stats.proportion.proportion_confint(method="wilson")`.
- VLM2VLA vs another model on a task: two-sided Fisher's exact test on the 2×2 success/failure table
  (`scipy.stats.fisher_exact`); Holm's step-down adjustment over a family of tests
  (`statsmodels.stats.multitest.multipletests(method="holm")`).
- Two models on the same items (probe answers): McNemar's exact test, a two-sided binomial test of the discordant
  pairs at 1/2 (`scipy.stats.binomtest`).
- Summaries: numpy percentiles (linear interpolation) for the median and the IQR.

scipy and statsmodels (the `reports` extra) are imported where used: a leaf module every layer may import must
not need them to load; a caller without them gets the ImportError and says what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | tuple[None, None]:
    """Wilson score interval for a binomial proportion; (None, None) when there are no trials."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return None, None
    low, high = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(low), float(high)


def fisher_p(success_a: int, n_a: int, success_b: int, n_b: int) -> float | None:
    """Two-sided Fisher's exact p-value for equal success rates; None when either side has no trials."""
    from scipy.stats import fisher_exact

    if n_a <= 0 or n_b <= 0:
        return None
    table = [[success_a, n_a - success_a], [success_b, n_b - success_b]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def mcnemar_exact_p(only_a: int, only_b: int) -> float:
    """Two-sided p of McNemar's exact test from the discordant pairs (items right only under a, only under b);
    1.0 when there are none."""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values over the non-missing entries (None stays None)."""
    from statsmodels.stats.multitest import multipletests

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
