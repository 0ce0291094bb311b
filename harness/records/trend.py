"""The loss trend of a run: mean loss over its first and last tenth of logged steps.

One step's loss is one batch's, and batches differ (a yes/no answer vs a long action chunk), so a single step says
little about the trend; the training CLI's summary and the reports' reading both use this."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from harness.records import TrainLogRow


@dataclass(frozen=True)
class LossTrend:
    first: float  # mean loss over the first tenth of the steps (at least one step)
    last: float  # ... and over the last tenth
    first_steps: tuple[int, int]  # (first, last) step numbers of each tenth
    last_steps: tuple[int, int]

    @property
    def change(self) -> float | None:
        """Relative change, last vs first (None when the first tenth's loss is 0)."""
        return (self.last - self.first) / self.first if self.first else None

    def describe(self) -> str:
        def span(steps: tuple[int, int]) -> str:
            return f"step {steps[0]}" if steps[0] == steps[1] else f"steps {steps[0]}–{steps[1]}"

        change = f" ({self.change * 100:+.0f}%)" if self.change is not None else ""
        return (f"mean loss {self.first:.3f} over {span(self.first_steps)} → {self.last:.3f} over "
                f"{span(self.last_steps)}{change}")


def loss_trend(rows: Sequence[TrainLogRow]) -> LossTrend | None:
    """The trend of logged rows in step order (None when there are none)."""
    if not rows:
        return None
    k = max(1, len(rows) // 10)
    head, tail = rows[:k], rows[-k:]
    return LossTrend(statistics.fmean(r.loss for r in head), statistics.fmean(r.loss for r in tail),
                     (head[0].step, head[-1].step), (tail[0].step, tail[-1].step))
