"""The oracle's success per task: aggregated from its trial outcomes, printed as a table, written as summary.json.

`vlm2vla sim oracle` and anything else that checks the simulated tasks are solvable read the same numbers from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.paths import results_dir
from harness.records import write_json
from harness.sim.rollout import TrialOutcome

SUMMARY = "summary.json"


def default_out(seed: int) -> Path:
    """Where an oracle run with scene seed `seed` keeps its trial logs, GIFs and summary."""
    return results_dir() / "sim" / "oracle" / f"seed{seed}"


@dataclass(frozen=True)
class TaskSummary:
    task: str
    trials: int
    successes: int
    rate: float  # successes / trials
    mean_cycles: float
    ik_failures: int  # summed over the trials
    failed_trials: list[int]  # trial indices, to replay a failure with `vlm2vla sim render --trial`

    @classmethod
    def of(cls, task: str, outcomes: Sequence[TrialOutcome]) -> TaskSummary:
        if not outcomes:
            raise ValueError(f"task {task!r}: no trial outcomes to summarize (run at least one trial)")
        ok = sum(o.success for o in outcomes)
        return cls(task, len(outcomes), ok, ok / len(outcomes), sum(o.cycles for o in outcomes) / len(outcomes),
                   sum(o.ik_failures for o in outcomes), [o.trial_index for o in outcomes if not o.success])


def table(summaries: Sequence[TaskSummary]) -> str:
    lines = [f"{'task':<22}{'success':>10}{'rate':>8}{'cycles':>8}  failed trials"]
    lines += [f"{s.task:<22}{s.successes:>5}/{s.trials:<4}{100 * s.rate:>7.0f}%{s.mean_cycles:>8.1f}"
              f"  {s.failed_trials or '-'}" for s in summaries]
    return "\n".join(lines)


def write_summary(out_dir: Path, summaries: Sequence[TaskSummary]) -> Path:
    """`<out_dir>/summary.json`: one object per task, replaced atomically."""
    return write_json(Path(out_dir) / SUMMARY, [asdict(s) for s in summaries])


def below(summaries: Sequence[TaskSummary], required_rate: float) -> list[str]:
    """The tasks whose success rate is under `required_rate` (0-1)."""
    return [s.task for s in summaries if s.rate < required_rate]
