"""A ranking of policies with uncertainty from the operators' pairwise preferences (blind A/B sessions).

Model: Bradley-Terry with ties (Davidson 1970). Policy i has strength θ_i; for a comparison of i (shown as A) with
j (shown as B), d = θ_i − θ_j and ν ≥ 0 the tie propensity:

    P(A preferred) = e^{d/2} / D,   P(B preferred) = e^{−d/2} / D,   P(tie) = ν / D,   D = e^{d/2} + e^{−d/2} + ν

(the textbook form π_i / (π_i + π_j + ν√(π_i π_j)) divided through by √(π_i π_j)). Strengths are identified by
Σθ = 0: K−1 free parameters and θ_K = −Σ the rest. The likelihood is maximised by statsmodels'
`GenericLikelihoodModel` (scipy's BFGS) and standard errors come from its inverse Hessian at the optimum, carried to
all K strengths by the linear map above. With no tie at all ν is fixed at 0 (plain Bradley-Terry): its estimate
would run to −∞ on the log scale.

A ranking needs enough comparisons: at least `MIN_PAIRS` in all, `MIN_PER_MODEL` per policy, and every policy must
both beat (or tie) and lose to (or tie) someone through a chain of comparisons — the comparison graph must be
strongly connected, where a tie links both ways — else a strength runs off to ±∞. Short of that the section says
what is missing instead of printing a ranking.

All tasks are pooled: a preference says which policy did better on a scene, whatever the task.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from harness.records import PairRow
from harness.reports.entry import Context, Entry
from harness.reports.figure import model_palette, new_figure, style
from harness.reports.inputs import load
from harness.reports.naming import model_key
from harness.reports.table import Column, Table

PRODUCE = ("run a blind A/B session (`make robot-trials` with two models), answer the console's A / B / tie prompt, "
           "then `vlm2vla trials export` (writes results/robot/pairs.csv)")
PREFERENCES = ("A", "B", "tie")
MIN_PAIRS = 10
MIN_PER_MODEL = 3
Z95 = 1.959963984540054
ELO_BASE = 1500.0
ELO_PER_NAT = 400.0 / math.log(10.0)  # Elo's 10^(Δ/400) odds = BT's e^d odds


@dataclass(frozen=True)
class Strength:
    model: str
    theta: float  # log-strength, Σθ = 0
    se: float
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def ci95(self) -> tuple[float, float]:
        return self.theta - Z95 * self.se, self.theta + Z95 * self.se

    @property
    def elo(self) -> float:
        return ELO_BASE + ELO_PER_NAT * self.theta


@dataclass(frozen=True)
class Ranking:
    strengths: list[Strength]  # best first
    nu: float  # tie propensity (0 when no tie was recorded)
    nu_se: float | None  # of log ν (None when ν is fixed at 0)
    n_pairs: int
    converged: bool


def _contrasts(k: int) -> np.ndarray:
    """θ = C β with Σθ = 0: K×(K−1), identity on top and a row of −1 for the last policy."""
    return np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])


def _davidson_model(outcome: np.ndarray, design: np.ndarray, ties: bool):
    """statsmodels likelihood of the Davidson model; `outcome` is +1 (A), −1 (B), 0 (tie), `design` the rows of
    C[a] − C[b], so design @ β = θ_a − θ_b."""
    from statsmodels.base.model import GenericLikelihoodModel

    class Davidson(GenericLikelihoodModel):
        def loglikeobs(self, params: np.ndarray) -> np.ndarray:
            d = self.exog @ params[: self.exog.shape[1]]
            log_nu = params[-1] if ties else -np.inf
            log_den = np.logaddexp(np.logaddexp(d / 2, -d / 2), log_nu)
            y = self.endog
            return np.where(y > 0, d / 2, np.where(y < 0, -d / 2, log_nu if ties else -np.inf)) - log_den

    model = Davidson(outcome, design, extra_params_names=["log_nu"] if ties else None)
    model.df_model = design.shape[1]  # statsmodels assumes a constant column; the strengths have none
    model.df_resid = len(outcome) - design.shape[1] - (1 if ties else 0)
    return model


def adequacy(pairs: list[tuple[str, str, str]]) -> list[str]:
    """Why these (model_a, model_b, preference) comparisons cannot support a ranking; empty when they can."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    models = sorted({m for a, b, _ in pairs for m in (a, b)}, key=model_key)
    reasons = []
    if len(models) < 2:
        reasons.append(f"{len(models)} polic{'y' if len(models) == 1 else 'ies'} compared (a ranking needs two)")
    if len(pairs) < MIN_PAIRS:
        reasons.append(f"{len(pairs)} pair(s) recorded (at least {MIN_PAIRS} needed)")
    per = Counter(m for a, b, _ in pairs for m in (a, b))
    few = [f"{m} ({per[m]})" for m in models if per[m] < MIN_PER_MODEL]
    if few:
        reasons.append(f"fewer than {MIN_PER_MODEL} comparisons for {', '.join(few)}")
    if len(models) >= 2:
        index = {m: i for i, m in enumerate(models)}
        edges = []  # winner -> loser ("beat or tied"); a tie links both ways
        for a, b, pref in pairs:
            if pref in ("A", "tie"):
                edges.append((index[a], index[b]))
            if pref in ("B", "tie"):
                edges.append((index[b], index[a]))
        rows, cols = zip(*edges, strict=True) if edges else ((), ())
        graph = coo_matrix((np.ones(len(edges)), (rows, cols)), shape=(len(models), len(models)))
        n_comp, labels = connected_components(graph, directed=True, connection="strong")
        if n_comp > 1:
            groups = [", ".join(m for m in models if labels[index[m]] == c) for c in range(n_comp)]
            reasons.append("some policy never lost (or never won) against the rest, so its strength is unbounded; "
                           "separated groups: " + " | ".join(f"[{g}]" for g in groups))
    return reasons


def fit_ranking(pairs: list[tuple[str, str, str]]) -> Ranking:
    """The Davidson Bradley-Terry fit of (model_a, model_b, preference) comparisons; call `adequacy` first."""
    bad = sorted({p for _, _, p in pairs} - set(PREFERENCES))
    if bad:
        raise ValueError(f"preferences {bad} are not one of {', '.join(PREFERENCES)}")
    models = sorted({m for a, b, _ in pairs for m in (a, b)}, key=model_key)
    index = {m: i for i, m in enumerate(models)}
    k = len(models)
    contrasts = _contrasts(k)
    design = np.array([contrasts[index[a]] - contrasts[index[b]] for a, b, _ in pairs])
    outcome = np.array([{"A": 1.0, "B": -1.0, "tie": 0.0}[p] for _, _, p in pairs])
    ties = bool(np.any(outcome == 0))
    model = _davidson_model(outcome, design, ties)
    start = np.zeros(k - 1 + (1 if ties else 0))
    result = model.fit(start_params=start, method="bfgs", maxiter=1000, gtol=1e-8, disp=False)
    cov = np.asarray(result.cov_params())
    beta = np.asarray(result.params)
    theta = contrasts @ beta[: k - 1]
    se_theta = np.sqrt(np.clip(np.diag(contrasts @ cov[: k - 1, : k - 1] @ contrasts.T), 0.0, None))
    record = {m: Counter() for m in models}
    for a, b, p in pairs:
        if p == "tie":
            record[a]["ties"] += 1
            record[b]["ties"] += 1
        else:
            winner, loser = (a, b) if p == "A" else (b, a)
            record[winner]["wins"] += 1
            record[loser]["losses"] += 1
    strengths = [Strength(m, float(theta[index[m]]), float(se_theta[index[m]]), record[m]["wins"],
                          record[m]["ties"], record[m]["losses"]) for m in models]
    strengths.sort(key=lambda s: (-s.theta, model_key(s.model)))
    nu, nu_se = (float(np.exp(beta[-1])), float(np.sqrt(cov[-1, -1]))) if ties else (0.0, None)
    converged = bool(result.mle_retvals.get("converged", True))
    return Ranking(strengths, nu, nu_se, len(pairs), converged)


def ranking_table(r: Ranking) -> Table:
    columns = [Column("rank", "Rank", align="r"), Column("model", "Model"),
               Column("strength", "Strength θ", "{:+.3f}", "r"), Column("se", "SE", "{:.3f}", "r"),
               Column("ci95_low", "95% CI low", "{:+.3f}", "r"), Column("ci95_high", "95% CI high", "{:+.3f}", "r"),
               Column("elo", "Elo-like", "{:.0f}", "r"), Column("elo_se", "Elo SE", "{:.0f}", "r"),
               Column("comparisons", "Pairs", align="r"), Column("wins", "Wins", align="r"),
               Column("ties", "Ties", align="r"), Column("losses", "Losses", align="r")]
    rows = [[i, s.model, s.theta, s.se, *s.ci95, s.elo, ELO_PER_NAT * s.se, s.n, s.wins, s.ties, s.losses]
            for i, s in enumerate(r.strengths, start=1)]
    tie = (f"tie propensity ν = {r.nu:.3g} (SE of log ν {r.nu_se:.3g})" if r.nu_se is not None
           else "no tie recorded, so ν = 0 (plain Bradley-Terry)")
    notes = [f"Bradley-Terry with ties (Davidson) over {r.n_pairs} operator preferences, all tasks pooled; "
             "maximum likelihood (statsmodels GenericLikelihoodModel, BFGS), SE from the inverse Hessian; "
             f"strengths sum to 0; {tie}.",
             f"Elo-like = {ELO_BASE:.0f} + θ·400/ln 10 (a 400-point gap = 10:1 odds of being preferred, ties aside). "
             "Read ranks whose 95% CIs overlap as not separated."]
    if not r.converged:
        notes.append("WARNING: the optimiser did not report convergence; treat the estimates with care.")
    return Table("ranking", "Policy ranking from pairwise preferences (Bradley-Terry with ties)", columns, rows,
                 notes)


def ranking_readings(r: Ranking) -> list[str]:
    top = r.strengths[0]
    order = " > ".join(f"{s.model} {s.theta:+.2f}±{s.se:.2f}" for s in r.strengths)
    lo, _ = top.ci95
    separated = [s.model for s in r.strengths[1:] if s.ci95[1] < lo]
    sep = (f"{top.model}'s 95% CI lies above {', '.join(separated)}" if separated
           else f"no policy's 95% CI lies wholly below {top.model}'s")
    return [f"{r.n_pairs} preferences: {order} (θ ± SE); {sep}"]


def ranking_figure(r: Ranking):
    colours = model_palette(s.model for s in r.strengths)
    fig = new_figure(6.5, 0.45 * len(r.strengths) + 1.3)
    ax = fig.subplots()
    ys = list(range(len(r.strengths)))[::-1]
    for y, s in zip(ys, r.strengths, strict=True):
        ax.errorbar([s.elo], [y], xerr=[[Z95 * ELO_PER_NAT * s.se], [Z95 * ELO_PER_NAT * s.se]], fmt="o",
                    color=colours[s.model], ecolor="0.2", elinewidth=1.0, capsize=3)
    ax.set_yticks(ys, [s.model for s in r.strengths])
    ax.axvline(ELO_BASE, color="0.6", linewidth=0.8, linestyle="--")
    ax.set_xlabel(f"Elo-like strength ({ELO_BASE:.0f} + θ·400/ln 10), 95% CI")
    ax.set_title(f"Bradley-Terry ranking (Davidson ties), {r.n_pairs} pairwise preferences")
    return fig


def build(ctx: Context) -> list[Entry]:
    loaded = load(ctx.results, "robot/pairs*.csv", PairRow, label="pairwise preferences", produce=PRODUCE)
    table = Entry("ranking", "table", "Policy ranking from pairwise preferences (Bradley-Terry with ties, SE)",
                  sources=loaded.sources, problems=list(loaded.problems),
                  missing=[loaded.missing] if loaded.missing else [])
    figure = Entry("ranking", "figure", "Policy ranking with 95% CI (Elo-like scale)", sources=loaded.sources,
                   missing=list(table.missing))
    unique = list(dict.fromkeys((r.session, r.task, r.scene_index, r.model_a, r.model_b, r.trial_a, r.trial_b,
                                 r.preference, r.note) for r in loaded.rows))  # the same pair in two exports
    pairs, skipped = [], Counter()
    for *_, a, b, _ta, _tb, pref, _note in unique:
        if pref not in PREFERENCES:
            skipped[f"preference {pref!r} not one of {', '.join(PREFERENCES)}"] += 1
        elif a == b:
            skipped[f"{a} compared with itself"] += 1
        else:
            pairs.append((a, b, pref))
    table.problems += [f"`robot/pairs*.csv`: {n} pair(s) left out: {why}" for why, n in sorted(skipped.items())]
    if not loaded.rows:
        return [table, figure]
    reasons = adequacy(pairs)
    if reasons:
        msg = "too few pairwise preferences for a ranking: " + "; ".join(reasons) + f" — {PRODUCE}"
        table.missing.append(msg)
        figure.missing.append(msg)
        return [table, figure]
    fitted = fit_ranking(pairs)
    out = ranking_table(fitted)
    if len(unique) < len(loaded.rows):
        out.notes.append(f"{len(loaded.rows) - len(unique)} duplicate row(s) (the same pair in two exports) "
                         "counted once.")
    table.files = ctx.write_table(out)
    table.reading = ranking_readings(fitted)
    with style():
        figure.files = ctx.write_figure(ranking_figure(fitted), "ranking")
    figure.reading = table.reading
    return [table, figure]
