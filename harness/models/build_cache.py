"""A checkpoint directory built once into the cache: atomically, under a file lock, keyed by what shapes it.

A build writes into a temporary directory beside its destination and renames it into place when complete, under a
file lock, so a killed build leaves nothing half-written and two processes never convert the same model twice. The
builders name the directory with a key of everything that shapes the result (build version, image size), so a
changed recipe builds anew instead of loading a stale model. Its own module so that the builders (`tiny`,
`gemma3_270m`) and the catalogue that names them (`builtin`) import it without importing each other.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.records.atomic import atomic_dir

MARKER = "embedded.json"  # written last into a complete build (the name existing caches carry)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
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
