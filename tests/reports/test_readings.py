"""Readings (the one-line summaries in reports/README.md) say what the numbers support, no more."""

from __future__ import annotations

from harness.records import TrainLogRow
from harness.reports import training, vqa


def _log(losses: list[float]) -> list[TrainLogRow]:
    return [TrainLogRow(step=i + 1, epoch=0.0, loss=v, lr=1e-3, tokens=10, elapsed_s=float(i))
            for i, v in enumerate(losses)]


def test_training_reading_compares_the_first_and_last_tenth_not_single_steps():
    # step 1 is a lucky short batch; the trend is down
    losses = [0.5, 9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.5, 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.9, 0.7]
    (line,) = training.readings({"run": _log(losses)})
    assert line == "run: mean loss 4.750 over steps 1–2 → 0.800 over steps 19–20 (-83%)"
    (line,) = training.readings({"short": _log([2.0, 1.0])})
    assert line == "short: mean loss 2.000 over step 1 → 1.000 over step 2 (-50%)"


def test_vqa_reading_names_the_benchmarks_without_retention():
    scores = [vqa.Score(source="ours", suite="embedded", label=label, model=m, value=v, unit="%", metric="Overall")
              for m, label, v in [("base", "MME", 100.0), ("tuned", "MME", 700.0), ("base", "OCRBench", 0.0),
                                  ("tuned", "OCRBench", 5.0)]]
    ret = {s: ("base", (s.value / 100.0 * 100.0) if s.label == "MME" else None) for s in scores if s.model == "tuned"}
    (line,) = vqa.readings(scores, ret)
    assert "tuned retains 700–700% of base's score over 1 benchmark(s)" in line
    assert line.endswith("; no retention where base scored 0: OCRBench")
