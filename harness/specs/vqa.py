"""Schema for VQA suites: which VLMEvalKit datasets, how each score is scaled, which judge."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.specs.base import check, check_choice

JUDGES = ("exact_matching", "openai")


@dataclass
class BenchmarkSpec:
    dataset: str = "???"  # VLMEvalKit dataset name, e.g. MMBench_DEV_EN
    label: str = "???"  # column name in tables, e.g. MMB-en
    scale: str = "%"  # how the headline number reads: "%", "/2800", "/1000"
    md5: str | None = None  # expected md5 of $LMUData/<dataset>.tsv; None for generated suites


@dataclass
class VQASuiteSpec:
    name: str = "???"
    description: str = ""
    benchmarks: list[BenchmarkSpec] = field(default_factory=list)
    judge: str = "exact_matching"
    batch_size: int = 8
    generated: bool = False  # the embedded suite is written by the project, not staged from upstream

    def __post_init__(self) -> None:
        check(len(self.benchmarks) > 0, "benchmarks", self.benchmarks, "at least one benchmark")
        check_choice("judge", self.judge, JUDGES)
        check(self.batch_size > 0, "batch_size", self.batch_size, "an integer > 0")
