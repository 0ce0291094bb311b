"""Reading result files for the reports: through `harness.records` only, never failing on what is absent.

Every loader returns a `Loaded`: the typed rows, where they came from (path relative to the results directory,
content hash, the git shas recorded in the rows) and, instead of raising, why there is nothing (`missing`) or which
files could not be read (`problems`, each naming the file and the fix). The reports turn those into explicit
"no data yet" / "input problem" entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from harness.records import read_rows

T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """One input file as the index cites it."""

    path: str  # relative to the results directory (or `paper/...` for the reference data)
    sha256: str  # first 12 hex digits of the file's content hash
    rows: int
    git_shas: tuple[str, ...] = ()  # as recorded in the rows (empty when the row type records none)
    records_git_sha: bool = False
    envs: tuple[str, ...] = ()  # environment fingerprint hashes recorded in the rows (`env` column)

    def cite(self) -> str:
        if self.records_git_sha:
            sha = "git " + ", ".join(s[:10] for s in self.git_shas) if self.git_shas else "git sha empty in rows"
        else:
            sha = "git sha not recorded in these rows"
        rows = f"{self.rows} row" + ("" if self.rows == 1 else "s")
        env = f", env {', '.join(self.envs)}" if self.envs else ""
        return f"`{self.path}` ({rows}, sha256 {self.sha256}, {sha}{env})"


@dataclass
class Loaded(Generic[T]):
    rows: list[T] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    missing: str | None = None  # why there are no rows at all
    problems: list[str] = field(default_factory=list)  # files that could not be read
    by_file: dict[str, list[T]] = field(default_factory=dict)  # cited path -> its rows


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def load(root: Path, pattern: str, cls: type[T], *, label: str, produce: str, prefix: str = "") -> Loaded[T]:
    """Rows of every file matching `pattern` under `root`, files in sorted order.

    `label` names the inputs in messages ("robot trials"), `produce` says how to create them (a command), `prefix`
    is prepended to the cited path (`paper/` for the reference data).
    """
    paths = sorted(p for p in root.glob(pattern) if p.is_file())
    where = f"{prefix}{pattern}"
    if not paths:
        return Loaded(missing=f"no data yet ({label}): `{where}` not found — {produce}")
    out: Loaded[T] = Loaded()
    for path in paths:
        rel = prefix + path.relative_to(root).as_posix()
        try:
            rows = read_rows(path, cls)
        except (ValueError, KeyError, OSError) as e:
            msg = str(e).replace(str(path), rel)
            out.problems.append(f"`{rel}` could not be read as {cls.__name__} rows ({msg}); fix or move the file, "
                                f"then rerun `vlm2vla report`")
            continue
        records = hasattr(cls, "__dataclass_fields__") and "git_sha" in cls.__dataclass_fields__
        shas = tuple(sorted({getattr(r, "git_sha", "") for r in rows} - {""})) if records else ()
        envs = tuple(sorted({getattr(r, "env", "") for r in rows} - {""}))
        out.sources.append(Source(rel, file_sha256(path), len(rows), shas, records, envs))
        out.by_file[rel] = rows
        out.rows += rows
    if not out.rows and not out.problems:
        out.missing = f"no data yet ({label}): `{where}` has no rows — {produce}"
    elif not out.rows:
        out.missing = f"no readable data ({label}): every `{where}` file has a problem (see Input problems)"
    return out
