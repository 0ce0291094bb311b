"""Result records: the row types every experiment writes under `results/` and the reports read.

One dataclass per CSV kind; the CSV header is the field list. Reports depend only on these and the files, never on
torch or hardware code, so a laptop without the heavy extras can regenerate every table.
"""

from harness.records.bench import BenchResult
from harness.records.io import append_rows, read_rows, write_json, write_rows
from harness.records.rows import (
    CHANCE_MODEL,
    ForgettingRow,
    LogprobRow,
    PairRow,
    PolicyBenchRow,
    TrainLogRow,
    TrialRow,
    VQAScoreRow,
)

__all__ = [
    "CHANCE_MODEL", "BenchResult", "ForgettingRow", "LogprobRow", "PairRow", "PolicyBenchRow", "TrainLogRow", "TrialRow", "VQAScoreRow", "append_rows",
    "read_rows", "write_json", "write_rows",
]
