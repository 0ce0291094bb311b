"""CSV read/write for result rows, with atomic rewrites so a crash never leaves a half-written table."""

from __future__ import annotations

import csv
import json
import os
import typing
from collections.abc import Iterable
from dataclasses import MISSING, asdict, fields
from pathlib import Path
from typing import Any, TypeVar

from harness.records.atomic import atomic_open, atomic_write_text
from harness.records.environment import record_sidecar

T = TypeVar("T")


def _header(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _record_environments(path: Path, rows: list) -> None:
    """Rows with an `env` column: their fingerprints go into the sidecar beside the CSV."""
    record_sidecar(path.parent, {e for e in (getattr(r, "env", "") for r in rows) if e})


def write_rows(path: str | Path, rows: Iterable[T], cls: type[T]) -> Path:
    """Replace `path` with `rows` (write to a temporary file, then rename)."""
    path, rows = Path(path), list(rows)
    _record_environments(path, rows)
    with atomic_open(path, "w", fsync=True, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_header(cls))
        writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
    return path


def write_json(path: str | Path, value: Any) -> Path:
    """Replace `path` with `value` as indented JSON (temporary file, then rename), creating its directory."""
    return atomic_write_text(path, json.dumps(value, indent=2) + "\n")


def append_rows(path: str | Path, rows: Iterable[T], cls: type[T]) -> Path:
    """Append rows (header written when the file is new); each call is flushed to disk before returning."""
    path, rows = Path(path), list(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    if not new:
        with path.open(newline="") as f:
            existing = next(csv.reader(f), [])
        if existing != _header(cls):
            optional = {f.name for f in fields(cls) if f.default is not MISSING or f.default_factory is not MISSING}
            if not (set(existing) <= set(_header(cls)) and set(_header(cls)) - set(existing) <= optional):
                raise ValueError(f"{path}: columns {existing} do not match {cls.__name__} {_header(cls)}; "
                                 "move the old file away or write to a new path")
            write_rows(path, read_rows(path, cls), cls)  # an older file lacking columns added since (with defaults)
    _record_environments(path, rows)
    with path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=_header(cls))
        if new:
            writer.writeheader()
        for row in rows:
            writer.writerow(asdict(row))
        f.flush()
        os.fsync(f.fileno())
    return path


def _convert(value: str, annotation: str | type):
    hint = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    if value == "" and "None" in hint:
        return None
    if hint.startswith("bool"):
        return value in ("True", "true", "1")
    if hint.startswith("int"):
        return int(value)
    if hint.startswith("float"):
        return float(value)
    return value


def read_rows(path: str | Path, cls: type[T]) -> list[T]:
    """Read a CSV written by `write_rows`/`append_rows` back into typed rows; names the file on bad columns.

    Columns added to a row type later (fields with defaults) may be absent, so older result files stay readable.
    """
    path = Path(path)
    hints = typing.get_type_hints(cls)
    required = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        present = set(reader.fieldnames or [])
        missing = required - present
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)} for {cls.__name__}")
        columns = [k for k in _header(cls) if k in present]
        out = []
        for line, raw in enumerate(reader, start=2):
            try:
                out.append(cls(**{k: _convert(raw[k], hints[k]) for k in columns}))
            except (TypeError, ValueError) as e:
                raise ValueError(f"{path}:{line}: {e}") from e
    return out
