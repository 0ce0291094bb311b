"""The statistics used in the tables against hand-computed and published values."""

from __future__ import annotations

import pytest

from harness.records.outcomes import count_outcomes
from harness.records.stats import describe, fisher_p, holm, wilson_interval
from harness.reports.paper import derive_successes
from tests.reports import hand


@pytest.mark.parametrize("x, n", [(6, 10), (8, 10), (0, 10), (10, 10), (19, 30), (48, 90), (1, 90)])
def test_wilson_matches_the_formula(x, n):
    assert wilson_interval(x, n) == pytest.approx(hand.wilson(x, n), abs=1e-12)


@pytest.mark.parametrize("x, n, low, high", [
    # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score interval without correction)
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
    (29, 29, 0.8830, 1.0),
])
def test_wilson_matches_published_examples(x, n, low, high):
    lo, hi = wilson_interval(x, n)
    assert (round(lo, 4), round(hi, 4)) == (low, high)


def test_wilson_without_trials_is_undefined():
    assert wilson_interval(0, 0) == (None, None)


def test_fisher_matches_known_values():
    # Fisher's lady tasting tea: 3 of 4 cups right; two-sided p = 34/70
    assert fisher_p(3, 4, 1, 4) == pytest.approx(34 / 70, rel=1e-12)
    # scipy's documented example [[6, 2], [1, 4]]: p = 0.1025641...
    assert fisher_p(6, 8, 1, 5) == pytest.approx(0.10256410256410256, rel=1e-12)


@pytest.mark.parametrize("sa, na, sb, nb", [(6, 10, 3, 10), (8, 10, 0, 10), (19, 30, 23, 30), (48, 90, 1, 90)])
def test_fisher_matches_the_hypergeometric_sum(sa, na, sb, nb):
    assert fisher_p(sa, na, sb, nb) == pytest.approx(hand.fisher_two_sided(sa, na - sa, sb, nb - sb), rel=1e-9)


def test_fisher_without_trials_is_undefined():
    assert fisher_p(0, 0, 3, 10) is None


def test_holm_matches_hand_and_keeps_gaps():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.01, None, 0.04, 0.03]) == pytest.approx([0.03, None, 0.06, 0.06])
    ps = [0.2, 0.001, 0.04, 0.5]
    assert holm(ps) == pytest.approx(hand.holm(ps))


def test_outcomes_rate_excludes_invalid_and_skip():
    counts = count_outcomes(["success"] * 6 + ["failure"] * 4 + ["invalid", "skip", "skip"])
    assert (counts.success, counts.n, counts.invalid, counts.skip) == (6, 10, 1, 2)
    assert counts.rate == 0.6
    with pytest.raises(ValueError, match="unknown trial outcome 'crashed'"):
        count_outcomes(["crashed"])


def test_describe_percentiles():
    d = describe([1.0, 1.2, 1.4, 1.6, 3.0])
    assert (d.n, d.median, d.q25, d.q75, d.min, d.max) == (5, 1.4, 1.2, 1.6, 1.0, 3.0)
    assert d.mean == pytest.approx(1.64)
    assert d.std == pytest.approx((sum((v - 1.64) ** 2 for v in [1.0, 1.2, 1.4, 1.6, 3.0]) / 4) ** 0.5)


@pytest.mark.parametrize("rate, n, expected", [(62, 30, 19), (5, 90, 5), (1, 90, 1), (53, 90, 48), (0, 30, 0),
                                               (77, 30, 23), (100, 30, 30)])
def test_derived_successes_round_half_up(rate, n, expected):
    assert derive_successes(rate, n) == expected
