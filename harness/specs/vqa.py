"""Schema for VQA suites: which VLMEvalKit datasets, how each score is scaled, which judge."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.specs.base import check, check_choice

JUDGES = ("exact_matching", "openai")
# VLMEvalKit classes a suite may name for datasets VLMEvalKit does not know by name (the embedded sets).
DATASET_CLASSES = ("ImageMCQDataset", "MMMUDataset", "ImageYORNDataset", "ImageVQADataset", "OCRBench")


@dataclass
class BenchmarkSpec:
    dataset: str = "???"  # VLMEvalKit dataset name, e.g. MMBench_DEV_EN
    label: str = "???"  # column name in tables, e.g. MMB-en
    scale: str = "%"  # how the headline number reads: "%", "/2800", "/1000"
    md5: str | None = None  # expected md5 of $LMUData/<dataset>.tsv; None for generated suites
    # VLMEvalKit dataset class to instantiate under `dataset`; None = VLMEvalKit's own `build_dataset(dataset)`.
    dataset_class: str | None = None
    # Headline metric, read from VLMEvalKit's result: a key ("Overall", "Final Score"), "split/key" for per-split
    # tables ("validation/Overall"), or "a+b" for a sum of keys ("perception+reasoning" = MME out of 2800).
    metric: str = "Overall"


@dataclass
class VQASuiteSpec:
    name: str = "???"
    description: str = ""
    benchmarks: list[BenchmarkSpec] = field(default_factory=list)
    judge: str = "exact_matching"
    batch_size: int = 8
    max_new_tokens: int = 64  # greedy decoding stops at EOS earlier; answers are short
    generated: bool = False  # the embedded suite is written by the project, not staged from upstream

    def __post_init__(self) -> None:
        check(len(self.benchmarks) > 0, "benchmarks", self.benchmarks, "at least one benchmark")
        check_choice("judge", self.judge, JUDGES)
        check(self.batch_size > 0, "batch_size", self.batch_size, "an integer > 0")
        check(self.max_new_tokens > 0, "max_new_tokens", self.max_new_tokens, "an integer > 0")
        names = [b.dataset for b in self.benchmarks]
        check(len(set(names)) == len(names), "benchmarks", names, "each dataset at most once")
        for i, b in enumerate(self.benchmarks):
            key = f"benchmarks[{i}]"
            if b.md5 is not None:
                check(re.fullmatch(r"[0-9a-f]{32}", b.md5) is not None, f"{key}.md5", b.md5,
                      "32 lower-case hex digits (VLMEvalKit's DATASET_MD5 entry) or null")
            if b.dataset_class is not None:
                check_choice(f"{key}.dataset_class", b.dataset_class, DATASET_CLASSES)
            check(bool(b.metric.strip()), f"{key}.metric", b.metric, "a VLMEvalKit result key")
            if self.generated:
                check(b.md5 is None, f"{key}.md5", b.md5, "null in a generated suite (the project writes the TSVs)")
                check(b.dataset_class is not None, f"{key}.dataset_class", b.dataset_class,
                      "a VLMEvalKit class in a generated suite (VLMEvalKit does not know these names)")
