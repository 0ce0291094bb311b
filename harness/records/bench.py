"""`BenchResult`: what every benchmark of the harness returns, prints and writes.

Each benchmark compares arms measured in the same run (a naive baseline first), so its result says which arms ran,
what was measured, how the arms compare (ratios, never absolute times alone) and which stated targets hold. One
type lets the CLI print any benchmark the same way, write it as JSON, and the pytest benchmarks put it in
`extra_info` without knowing which benchmark it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.records.io import write_json


@dataclass(frozen=True)
class BenchResult:
    name: str  # which benchmark: data, policy, sim, vqa
    variants: tuple[str, ...]  # the arms measured in this run, the baseline first
    metrics: dict[str, Any]  # every measured number and its context, by name (the JSON keys)
    ratios: dict[str, float] = field(default_factory=dict)  # comparisons against the baseline of the same run
    targets: dict[str, bool] = field(default_factory=dict)  # stated target -> met
    table: tuple[str, ...] = ()  # the human-readable lines, laid out by the benchmark

    def __post_init__(self) -> None:
        clash = set(self.metrics) & set(self.ratios)
        if clash:  # as_dict puts both at the top level: a name in both would hide one value
            raise ValueError(f"benchmark {self.name!r}: {sorted(clash)} named both a metric and a ratio")

    def report(self) -> str:
        """The table, then one line per target."""
        lines = list(self.table)
        lines += [f"  target {name}: {'met' if ok else 'NOT met'}" for name, ok in self.targets.items()]
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """Flat: metrics and ratios at the top level (the keys earlier JSON files had), plus the arms and targets."""
        return {"bench": self.name, "variants": list(self.variants), **self.metrics, **self.ratios,
                "targets": dict(self.targets)}

    def write_json(self, path: str | Path) -> Path:
        return write_json(path, self.as_dict())
