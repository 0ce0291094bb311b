"""How a trial ends: its operator-given outcome, why its loop stopped, and outcome tallies.

One home for these names: the trial log's schema, the runner, the session and the reports all use them, so a
new outcome or stop reason is added here once. Both are `StrEnum`s: members are the strings written to the trial
log and the CSVs, and compare equal to them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    INVALID = "invalid"  # the trial is redone (a setup or hardware problem, not the policy's doing)
    SKIP = "skip"


class StopReason(StrEnum):
    """Why a trial's closed loop ended (before the operator scores it)."""

    POLICY_DONE = "policy_done"
    CYCLE_BUDGET = "cycle_budget"
    TIME_BUDGET = "time_budget"
    OPERATOR_STOP = "operator_stop"
    # the served policy failed (died, stalled, answered garbage): the arm went to its sleep pose, the trial is invalid
    POLICY_SERVER_FAULT = "policy_server_fault"


# plain strings (not members): they are also spliced into SQL and messages, where a member's repr would leak
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
FINAL_OUTCOMES: tuple[str, ...] = tuple(o.value for o in (Outcome.SUCCESS, Outcome.FAILURE, Outcome.SKIP))
STOP_REASONS: tuple[str, ...] = tuple(r.value for r in StopReason)


@dataclass(frozen=True)
class OutcomeCounts:
    """Trials per outcome. The success rate counts successes and failures only: `invalid` trials are redone and
    `skip`ped ones never ran, so neither says anything about the policy."""

    success: int = 0
    failure: int = 0
    invalid: int = 0
    skip: int = 0

    @property
    def n(self) -> int:
        """Trials that count towards the rate."""
        return self.success + self.failure

    @property
    def scored(self) -> int:
        """Trials with a final outcome (success, failure or skip)."""
        return self.success + self.failure + self.skip

    @property
    def rate(self) -> float | None:
        return self.success / self.n if self.n else None


def count_outcomes(outcomes: Iterable[str]) -> OutcomeCounts:
    """Tally outcomes; anything outside OUTCOMES is a caller error (the loaders filter and report those)."""
    tally = dict.fromkeys(OUTCOMES, 0)
    for outcome in outcomes:
        if outcome not in tally:
            raise ValueError(f"unknown trial outcome {outcome!r}; expected one of {', '.join(OUTCOMES)}")
        tally[outcome] += 1
    return OutcomeCounts(**tally)
