"""The build manifest: which trajectory groups are done, from which files, into which shards.

An append-only JSON-lines journal (`<out>/manifest.jsonl`): one line per finished group, written after its shards,
flushed and fsync'ed. The last line of a group wins; a torn last line (a build killed while writing it) is ignored,
so that group is simply redone. A group's shards have fixed names, so redoing it replaces them: a resumed build
never duplicates rows. The journal is compacted (atomic rewrite) at the end of every build.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.records.atomic import atomic_open

MANIFEST = "manifest.jsonl"


class Manifest:
    def __init__(self, out: str | Path):
        self.path = Path(out) / MANIFEST
        self.records: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        if self.path.exists():
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                        self.records[record["group"]] = record
                    except (json.JSONDecodeError, KeyError, TypeError):
                        self.torn_lines += 1

    def get(self, group: str) -> dict[str, Any] | None:
        return self.records.get(group)

    def commit(self, record: dict[str, Any]) -> None:
        """Durably record a finished group (its shards are already on disk)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self.records[record["group"]] = record

    def drop(self, groups: Iterable[str]) -> None:
        for g in groups:
            self.records.pop(g, None)

    def compact(self) -> None:
        with atomic_open(self.path, "w", fsync=True, encoding="utf-8") as f:
            for g in sorted(self.records):
                f.write(json.dumps(self.records[g], separators=(",", ":")) + "\n")

    def episodes(self) -> Iterable[tuple[str, dict[str, Any]]]:
        for g in sorted(self.records):
            yield from sorted(self.records[g]["episodes"].items())

    def shard_files(self) -> set[str]:
        return {p for r in self.records.values() for p in r.get("shards", {}).values() if p}
