"""Embedded models (`embedded:<name>` in a model spec): built offline once into the cache, then loaded like any
local checkpoint.

A build writes into a temporary directory beside its destination and renames it into place when complete, under a
file lock, so a killed build leaves nothing half-written and two processes never convert the same model twice. The
directory name carries a key of everything that shapes the result (build version, image size), so a changed recipe
builds anew instead of loading a stale model.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from harness.paths import cache_dir
from harness.records.atomic import atomic_dir

PREFIX = "embedded:"
MARKER = "embedded.json"


def is_embedded(base: str) -> bool:
    return base.startswith(PREFIX)


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_build(dst: Path, build: Callable[[Path], None], info: dict) -> Path:
    """Return `dst`, building it with `build(tmp_dir)` first if it is not complete (atomic, locked, idempotent)."""
    if (dst / MARKER).is_file():
        return dst
    with _locked(dst.parent / f".{dst.name}.lock"):
        if (dst / MARKER).is_file():  # another process finished it while we waited
            return dst
        with atomic_dir(dst, unique=True) as tmp:  # replaces an incomplete leftover of an older layout
            build(tmp)
            (tmp / MARKER).write_text(json.dumps(info, indent=2))
    return dst


def embedded_dir(base: str, image_size: int) -> Path:
    """Directory of the built embedded model named by `base` (`embedded:tiny`, `embedded:gemma3-270m`)."""
    from harness.models import gemma3_270m, tiny

    builders = {"tiny": tiny.build_dir, "gemma3-270m": gemma3_270m.build_dir}
    name = base.removeprefix(PREFIX)
    if name not in builders:
        raise ValueError(f"unknown embedded model {base!r}; known: {', '.join(PREFIX + n for n in builders)}")
    return builders[name](cache_dir(), image_size)
