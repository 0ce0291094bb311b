"""Atomic writes: a file or directory appears complete under its final name, or not at all.

Everything is first written beside its destination (same filesystem, so the rename is atomic) and renamed into
place only when the writer returned; a writer that raises leaves the old file untouched and no temporary behind.
Temporary names end in `.tmp` (builds clean up `*.tmp` orphans of a killed run by that suffix) unless the writer
infers the format from the extension (`keep_suffix`), and are unique per process and thread where several write
the same path at once (`unique`).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def tmp_path(path: Path, *, unique: bool = False, keep_suffix: bool = False) -> Path:
    """The temporary sibling `path` is written to before the rename."""
    tag = f"{os.getpid()}.{threading.get_ident()}" if unique else ""
    if keep_suffix:  # `.tmp-<tag>-name.ext`: writers that pick the format from the extension still see it
        return path.with_name(f".tmp-{tag + '-' if tag else ''}{path.name}")
    return path.with_name(f"{path.name}.{tag}.tmp" if tag else f"{path.name}.tmp")


@contextmanager
def atomic_path(path: str | Path, *, unique: bool = False, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield a temporary path for a writer that takes a file name (`to_parquet`, `savefig`, `Image.save`); it
    replaces `path` when the block ends normally and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path(path, unique=unique, keep_suffix=keep_suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", *, fsync: bool = False, unique: bool = False,
                **open_kwargs: Any) -> Iterator[IO[Any]]:
    """Yield an open temporary file; on a normal exit it is flushed (and fsynced: survives a power cut, not only a
    crash) and replaces `path`. `open_kwargs` go to `open` (encoding, newline)."""
    with atomic_path(path, unique=unique) as tmp, open(tmp, mode, **open_kwargs) as f:
        yield f
        f.flush()
        if fsync:
            os.fsync(f.fileno())


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False, unique: bool = False,
                      encoding: str | None = None, newline: str | None = None) -> Path:
    """Replace `path` with `text` atomically; returns `path`."""
    with atomic_open(path, "w", fsync=fsync, unique=unique, encoding=encoding, newline=newline) as f:
        f.write(text)
    return Path(path)


def atomic_write_bytes(path: str | Path, data: bytes, *, fsync: bool = False, unique: bool = False) -> Path:
    """Replace `path` with `data` atomically; returns `path`."""
    with atomic_open(path, "wb", fsync=fsync, unique=unique) as f:
        f.write(data)
    return Path(path)


def fresh_tmp_dir(path: Path, *, unique: bool = False, keep_suffix: bool = False) -> Path:
    """An empty temporary directory beside `path` (a leftover of a killed writer is removed first); `keep_suffix`
    names it `.tmp-<name>`, which a glob for `<name>`'s siblings (`step-*`) does not match."""
    tmp = tmp_path(path, unique=unique, keep_suffix=keep_suffix)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def replace_dir(tmp: Path, path: Path) -> Path:
    """Move the finished directory `tmp` to `path`, replacing what was there (two steps: a directory cannot be
    renamed over a non-empty one; a crash between them leaves no `path`, which readers treat as not yet written)."""
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path


@contextmanager
def atomic_dir(path: str | Path, *, unique: bool = False, keep_suffix: bool = False) -> Iterator[Path]:
    """Yield an empty temporary directory that replaces directory `path` when the block ends normally and is
    removed when it raises."""
    path = Path(path)
    tmp = fresh_tmp_dir(path, unique=unique, keep_suffix=keep_suffix)
    try:
        yield tmp
        replace_dir(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
