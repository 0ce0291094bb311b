"""Run fingerprints: the settings a resumable result was produced with, so a rerun with other settings is refused
instead of silently mixing two experiments (the trainer's `run.json`, the forgetting grid's arm files)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.records.atomic import atomic_write_text


def differing_keys(before: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """Top-level keys whose values differ (or are present on one side only), sorted; empty when equal."""
    return sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))


def pin_fingerprint(path: Path, fingerprint: Mapping[str, Any]) -> list[str]:
    """Record `fingerprint` at `path` when nothing is recorded yet; else the keys that differ from the recorded one
    (empty: the same run, safe to resume)."""
    if path.is_file():
        return differing_keys(json.loads(path.read_text()), fingerprint)
    atomic_write_text(path, json.dumps(fingerprint, indent=2))
    return []
