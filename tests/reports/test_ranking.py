"""The Bradley-Terry (Davidson) ranking: it recovers known strengths within its standard errors, and with too few
pairs the report says so instead of ranking."""

from __future__ import annotations

import numpy as np
import pytest

from harness.records import PairRow, write_rows
from harness.reports import build_reports
from harness.reports.ranking import MIN_PAIRS, adequacy, fit_ranking
from tests.reports.conftest import read_csv

MODELS = ("vlm2vla", "openvla", "ecot", "vlm2vla-at")
THETA = np.array([0.8, 0.3, -0.4, -0.7])  # sums to 0, the fit's identification


def simulate(n: int, nu: float, seed: int) -> list[tuple[str, str, str]]:
    """Draw comparisons from the Davidson model itself: P(A):P(B):P(tie) = e^{d/2} : e^{-d/2} : ν."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        i, j = rng.choice(len(MODELS), 2, replace=False)
        d = THETA[i] - THETA[j]
        w = np.array([np.exp(d / 2), np.exp(-d / 2), nu])
        out.append((MODELS[i], MODELS[j], ("A", "B", "tie")[rng.choice(3, p=w / w.sum())]))
    return out


@pytest.mark.parametrize("nu", [0.5, 0.0])
def test_the_fit_recovers_known_strengths_within_its_standard_errors(nu):
    pairs = simulate(1200, nu, seed=7)
    assert adequacy(pairs) == []
    r = fit_ranking(pairs)
    assert r.converged and r.n_pairs == 1200
    assert [s.model for s in r.strengths] == list(MODELS)  # the true order
    for s in r.strengths:
        true = THETA[MODELS.index(s.model)]
        assert 0.02 < s.se < 0.2
        assert abs(s.theta - true) < 3 * s.se, (s, true)
    assert sum(s.theta for s in r.strengths) == pytest.approx(0.0, abs=1e-9)
    if nu:
        assert abs(np.log(r.nu) - np.log(nu)) < 3 * r.nu_se
    else:
        assert r.nu == 0.0 and r.nu_se is None
    # the standard errors shrink like 1/sqrt(n): four times the data, about half the SE
    bigger = fit_ranking(simulate(4800, nu, seed=8))
    for a, b in zip(sorted(r.strengths, key=lambda s: s.model), sorted(bigger.strengths, key=lambda s: s.model),
                    strict=True):
        assert 0.4 < b.se / a.se < 0.6


def test_a_policy_that_never_lost_cannot_be_ranked():
    pairs = [("vlm2vla", "openvla", "A")] * 6 + [("openvla", "ecot", "A"), ("ecot", "openvla", "A")] * 3
    reasons = adequacy(pairs)
    assert len(reasons) == 1 and "never lost" in reasons[0] and "[vlm2vla]" in reasons[0]


def _write_pairs(results, pairs):
    rows = [PairRow(session="s1", task="pickup", scene_index=k, model_a=a, model_b=b, trial_a=str(2 * k),
                    trial_b=str(2 * k + 1), preference=p) for k, (a, b, p) in enumerate(pairs)]
    write_rows(results / "robot" / "pairs.csv", rows, PairRow)


def test_too_few_pairs_says_so_instead_of_ranking(tmp_path):
    results, out = tmp_path / "results", tmp_path / "reports"
    _write_pairs(results, simulate(MIN_PAIRS - 1, 0.5, seed=1))
    summary = build_reports(results, out)
    assert not (out / "tables" / "ranking.csv").exists()
    assert not (out / "figures" / "ranking.png").exists()
    msg = [m for m in summary.missing if m.startswith("too few pairwise preferences for a ranking")]
    assert len(msg) == 1 and f"{MIN_PAIRS - 1} pair(s) recorded (at least {MIN_PAIRS} needed)" in msg[0]
    assert msg[0] in (out / "README.md").read_text()


def test_make_reports_writes_the_ranking_table_and_figure(tmp_path):
    results, out = tmp_path / "results", tmp_path / "reports"
    _write_pairs(results, simulate(300, 0.5, seed=3) + [("ecot", "ecot", "A"), ("ecot", "openvla", "C")])
    summary = build_reports(results, out)
    rows = read_csv(out / "tables" / "ranking.csv")
    assert [r["model"] for r in rows] == list(MODELS)
    assert all(float(r["se"]) > 0 for r in rows)
    assert (out / "figures" / "ranking.png").is_file()
    assert "`robot/pairs*.csv`: 1 pair(s) left out: ecot compared with itself" in summary.problems
    assert any("preference 'C' not one of A, B, tie" in p for p in summary.problems)
    index = (out / "README.md").read_text()
    assert "Policy ranking from pairwise preferences" in index and "300 preferences: vlm2vla" in index
