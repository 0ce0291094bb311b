"""Reference values computed by hand from the textbook formulas (not through scipy/statsmodels)."""

from __future__ import annotations

import math
from statistics import NormalDist

Z95 = NormalDist().inv_cdf(0.975)


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval: centre (p + z²/2n) / (1 + z²/n), half-width z/(1 + z²/n) √(p(1-p)/n + z²/4n²)."""
    p = x / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def fisher_two_sided(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher's exact p for [[a, b], [c, d]]: sum of hypergeometric tables no more likely than observed."""
    row1, col1, n = a + b, a + c, a + b + c + d

    def prob(k: int) -> float:
        return math.comb(col1, k) * math.comb(n - col1, row1 - k) / math.comb(n, row1)

    observed = prob(a)
    lo, hi = max(0, row1 + col1 - n), min(row1, col1)
    return sum(prob(k) for k in range(lo, hi + 1) if prob(k) <= observed * (1 + 1e-7))


def holm(pvalues: list[float]) -> list[float]:
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    m, running, out = len(pvalues), 0.0, [0.0] * len(pvalues)
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
