"""Environment fingerprints: the software and hardware that produced a number, so a score that moved with a package
version (OpenVLA's users hit this with transformers) is visible instead of silent.

`environment()` collects package versions (read from installed metadata: nothing heavy is imported), the device's
hardware name, the dtype and the git sha. Rows store only its short hash (`env` column, from `env_of`); the CSV
writers keep hash -> full fingerprint in an `environments.json` sidecar beside the CSV, and the reports read every
sidecar under the results directory to show the fingerprints and flag tables that mix them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import platform
import subprocess
import sys
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path

from harness.paths import REPO_ROOT
from harness.records.atomic import atomic_write_text

SIDECAR = "environments.json"
# fingerprint key -> distribution name (VLMEvalKit ships on PyPI as ms-vlmeval)
PACKAGES = {"torch": "torch", "transformers": "transformers", "peft": "peft", "accelerate": "accelerate",
            "vlmeval": "ms-vlmeval"}
HASH_CHARS = 10


def git_sha() -> str:
    """HEAD of the repository, with `-dirty` when tracked files differ; `unknown` outside a checkout."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware(device: str | None) -> str:
    """The accelerator a `cuda[:i]` device names (torch is loaded by then), else the CPU model."""
    if device and device.startswith("cuda"):
        import torch

        index = int(device.split(":", 1)[1]) if ":" in device else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)
    return _cpu_name()


@cache
def environment(device: str | None = None, dtype: str | None = None) -> Mapping[str, str]:
    """The fingerprint of this process for results computed on `device` in `dtype` (both as the caller names them:
    "cuda:0", "torch.bfloat16"; None where the result involves no model). Cached: it does not change in a run."""
    fp = {name: _version(dist) for name, dist in PACKAGES.items()}
    fp.update(python=platform.python_version(), platform=f"{sys.platform}-{platform.machine()}",
              device=str(device or "none"), hardware=hardware(device), dtype=str(dtype or "none").replace("torch.", ""),
              git_sha=git_sha())
    return dict(sorted(fp.items()))


def env_hash(fingerprint: Mapping[str, str]) -> str:
    """Short content hash of a fingerprint: what the rows store."""
    text = json.dumps(dict(fingerprint), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def model_device(model: object | None) -> tuple[str | None, str | None]:
    """(device, dtype) of a loaded model (anything with `.device` / `.dtype`, e.g. the registry's `LoadedModel`);
    (None, None) for results without a model."""
    device, dtype = getattr(model, "device", None), getattr(model, "dtype", None)
    return (None if device is None else str(device)), (None if dtype is None else str(dtype))


def fingerprint_of(model: object | None = None) -> dict[str, str]:
    """This process's fingerprint on `model`'s device and dtype (see `model_device`), for records kept as JSON."""
    return dict(environment(*model_device(model)))


def remember(fingerprint: Mapping[str, str]) -> str:
    """The hash of `fingerprint` for a row's `env` column; `write_rows`/`append_rows` put the full fingerprint of
    every hash they write in the sidecar (also for fingerprints read back from an earlier run's record)."""
    key = env_hash(fingerprint)
    _KNOWN[key] = dict(fingerprint)
    return key


def env_of(model: object | None = None) -> str:
    """The `env` column of a row computed now with `model` (None: no model involved)."""
    return remember(fingerprint_of(model))


_KNOWN: dict[str, dict[str, str]] = {}  # hash -> fingerprint, for every `env_of` of this process


def known(key: str) -> dict[str, str] | None:
    """The fingerprint behind a hash this process made or read back (`remember`), for stores other than CSVs."""
    return _KNOWN.get(key)


def record_sidecar(directory: str | Path, hashes: set[str]) -> Path | None:
    """Add the fingerprints of `hashes` this process knows to `directory`/environments.json (locked, atomic; other
    entries kept). Hashes from other processes (rows read back and rewritten) are already in their sidecar."""
    new = {h: _KNOWN[h] for h in sorted(hashes) if h in _KNOWN}
    if not new:
        return None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SIDECAR
    with (directory / f".{SIDECAR}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        known = json.loads(path.read_text()) if path.is_file() else {}
        if any(known.get(h) != fp for h, fp in new.items()):
            known.update(new)
            atomic_write_text(path, json.dumps(dict(sorted(known.items())), indent=2) + "\n")
    return path


def load_environments(root: str | Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Every fingerprint recorded under `root` (all sidecars merged) and the sidecars that could not be read."""
    out: dict[str, dict[str, str]] = {}
    problems = []
    for path in sorted(Path(root).rglob(SIDECAR)):
        try:
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as e:
            problems.append(f"`{path.relative_to(root).as_posix()}` could not be read ({e}); fix or remove it")
            continue
        out.update({k: dict(v) for k, v in data.items() if isinstance(v, dict)})
    return out, problems


def differing(fingerprints: list[Mapping[str, str]]) -> list[str]:
    """Keys whose values are not the same in every fingerprint (what a table mixing them should name)."""
    keys = sorted({k for fp in fingerprints for k in fp})
    return [k for k in keys if len({fp.get(k) for fp in fingerprints}) > 1]
