"""Retention: the paper's measure of forgetting, defined once for the VQA runs, the reports and the probe grid."""

from __future__ import annotations


def retention_pct(score: float, base_score: float, chance: float | None = None) -> float | None:
    """`score` as a percentage of the untuned base's score on the same measure.

    None where the base scores at or below `chance` (the constant answer's score; 0 when not measured): a base
    at chance has nothing to retain, and a ratio of chance levels (700/2800 on MME is answering "Yes" to all)
    would read as knowledge kept or lost.
    """
    floor = chance if chance is not None else 0.0
    return score / base_score * 100.0 if base_score > floor else None
