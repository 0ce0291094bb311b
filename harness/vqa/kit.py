"""Import VLMEvalKit (`vlmeval`) once, without letting its import side effects leak into the harness.

`import vlmeval` imports every dataset and model wrapper it ships and, on the way, replaces the process's SSL
context with an unverified one, configures the root logger, logs an error about a missing `.env`, turns autograd off
(`torch.set_grad_enabled(False)`), reseeds torch, sets environment variables and creates `~/LMUData` when `LMUData`
is unset. `load()` snapshots all of that, imports, and puts it back. `session()` does the same around the calls that
read data or score (they call `load_env()` and read `$LMUData` again), pins `$LMUData` to a directory we checked, and
bounds the `multiprocessing.Pool(16)` that `ImageVQADataset.evaluate` starts (and never closes) to the machine's
cores, closing it afterwards.

On CPU machines torchvision's compiled ops cannot load (`operator torchvision::nms does not exist`); VLMEvalKit
imports torchvision but the image benchmarks never call those ops, so `load()` registers the two missing op schemas
— only when that exact failure happens. Such a torchvision would also break `transformers` (which imports it when it
is installed) in every other process of the venv, so the Makefile installs it into a private directory,
`.venv/vqa-torchvision`, that only `load()` puts on `sys.path` (and only when no torchvision is installed normally).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.pool
import os
import random
import re
import shutil
import ssl
import sys
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

VLMEVAL_DIST = "ms-vlmeval"
VLMEVAL_VERSION = "0.0.20"
_TORCHVISION_SCHEMAS = {
    "torchvision::nms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "torchvision::qnms": "(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}


class VLMEvalUnavailable(RuntimeError):
    """VLMEvalKit (or what it needs) is not installed; the message says how to install it."""


INSTALL_HINT = ("install it with `make setup-all` (or `make .venv/.stamp-vqa`), which runs "
                f"`pip install --no-deps {VLMEVAL_DIST}=={VLMEVAL_VERSION}` plus the pinned `vqa-deps` extra")


@contextlib.contextmanager
def preserved_state() -> Iterator[None]:
    """Put back what `vlmeval` changes on import or on use: env vars, SSL, logging, warnings, grad mode, RNGs."""
    import numpy as np
    import torch

    env = dict(os.environ)
    https_context = ssl._create_default_https_context
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    filters = list(warnings.filters)
    grad = torch.is_grad_enabled()
    torch_rng, py_rng, np_rng = torch.get_rng_state(), random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        for key in set(os.environ) - set(env):
            del os.environ[key]
        for key, value in env.items():
            if os.environ.get(key) != value:
                os.environ[key] = value
        ssl._create_default_https_context = https_context
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        warnings.filters[:] = filters
        torch.set_grad_enabled(grad)
        torch.set_rng_state(torch_rng)
        random.setstate(py_rng)
        np.random.set_state(np_rng)


def private_torchvision_dir() -> Path:
    """Where the Makefile installs torchvision for VLMEvalKit alone (see the module docstring)."""
    return Path(sys.prefix) / "vqa-torchvision"


def _torchvision_needs_schemas() -> bool:
    """Import torchvision; on the CPU-only failure, register the missing op schemas and import it again."""
    import importlib.util

    private = str(private_torchvision_dir())
    if importlib.util.find_spec("torchvision") is None and Path(private).is_dir() and private not in sys.path:
        sys.path.append(private)
    try:
        import torchvision  # noqa: F401
        return False
    except ModuleNotFoundError as e:
        raise VLMEvalUnavailable(f"VLMEvalKit needs torchvision ({e}); {INSTALL_HINT}") from e
    except RuntimeError as e:
        if "torchvision::nms" not in str(e):
            raise
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]
    import torch

    for op, schema in _TORCHVISION_SCHEMAS.items():
        with contextlib.suppress(RuntimeError):  # already defined (a second attempt in the same process)
            torch.library.define(op, schema)
    import torchvision  # noqa: F401
    return True


_state: dict[str, object] = {}


def load() -> ModuleType:
    """Import `vlmeval` (idempotent) with its import side effects undone; returns the package."""
    if "vlmeval" in _state:
        return _state["vlmeval"]  # type: ignore[return-value]
    with preserved_state():
        # Unset or missing $LMUData makes VLMEvalKit create ~/LMUData: point it at a throwaway directory instead.
        scratch = tempfile.mkdtemp(prefix="vlm2vla-lmudata-")
        os.environ["LMUData"] = scratch
        silenced = logging.root.manager.disable
        logging.disable(logging.CRITICAL)  # its import logs an ERROR about a missing optional `.env` file
        try:
            _state["torchvision_schemas"] = _torchvision_needs_schemas()
            try:
                import vlmeval
                import vlmeval.config  # noqa: F401  (the model registry `supported_VLM`)
                import vlmeval.dataset  # noqa: F401
                import vlmeval.smp  # noqa: F401
                import vlmeval.vlm.base  # noqa: F401
            except ModuleNotFoundError as e:
                raise VLMEvalUnavailable(f"cannot import VLMEvalKit: {e}; {INSTALL_HINT}") from e
        finally:
            logging.disable(silenced)
            shutil.rmtree(scratch, ignore_errors=True)
    _state["vlmeval"] = vlmeval
    return vlmeval


def used_torchvision_workaround() -> bool:
    """Whether `load()` had to register torchvision's op schemas (CPU-only torchvision)."""
    load()
    return bool(_state["torchvision_schemas"])


def expected_md5(dataset: str) -> str | None:
    """VLMEvalKit's own md5 for `$LMUData/<dataset>.tsv` (None for names it does not know)."""
    load()
    from vlmeval.dataset import DATASET_CLASSES

    for cls in DATASET_CLASSES:
        md5 = getattr(cls, "DATASET_MD5", {}).get(dataset)
        if md5:
            return md5
    return None


@contextlib.contextmanager
def _bounded_pools(limit: int) -> Iterator[None]:
    """Cap `multiprocessing.Pool(n)` at `limit` processes and close every pool opened inside the block."""
    real = multiprocessing.Pool
    opened: list[multiprocessing.pool.Pool] = []

    def pool(processes: int | None = None, *args, **kwargs):
        p = real(min(processes or limit, limit), *args, **kwargs)
        opened.append(p)
        return p

    multiprocessing.Pool = pool  # type: ignore[assignment]
    try:
        yield
    finally:
        multiprocessing.Pool = real  # type: ignore[assignment]
        for p in opened:
            p.terminate()
            p.join()


# Circular multiple-choice scoring dumps a scratch copy to /tmp/<YYYYmmddHHMMSS>.<ext>, reads it straight back and
# leaves it there: two processes scoring in the same second would read each other's copy (silently wrong scores).
# Within a session the name also carries the process id and a counter, so it is this process's alone, and the
# session removes exactly its own scratch files (never a concurrent run's).
def _scratch_pattern() -> re.Pattern[str]:
    return re.compile(rf"^\d{{14}}-{os.getpid()}-\d+\.(xlsx|tsv|json|pkl)$")


def _scratch_files() -> set[str]:
    pattern = _scratch_pattern()
    try:
        return {n for n in os.listdir("/tmp") if pattern.match(n)}
    except OSError:
        return set()


@contextlib.contextmanager
def _own_scratch_names() -> Iterator[None]:
    import vlmeval.dataset.utils.multiple_choice as mc

    real, counter = mc.timestr, itertools.count()
    mc.timestr = lambda *args, **kwargs: f"{real(*args, **kwargs)}-{os.getpid()}-{next(counter)}"
    try:
        yield
    finally:
        mc.timestr = real


@contextlib.contextmanager
def session(lmudata: str | Path, *, processes: int | None = None) -> Iterator[ModuleType]:
    """Run VLMEvalKit calls against `lmudata` (must exist) with process state restored afterwards."""
    root = Path(lmudata)
    if not root.is_dir():
        raise FileNotFoundError(f"LMUData directory {root} does not exist (VLMEvalKit would silently use ~/LMUData)")
    vlmeval = load()
    before = _scratch_files()
    try:
        with preserved_state(), _bounded_pools(processes or os.cpu_count() or 1), _own_scratch_names():
            os.environ["LMUData"] = str(root.resolve())
            yield vlmeval
    finally:
        for name in _scratch_files() - before:
            with contextlib.suppress(OSError):
                os.remove(os.path.join("/tmp", name))
