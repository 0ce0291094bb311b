"""Checkpoints from the local Hugging Face cache only: the harness never downloads weights at run time.

A missing checkpoint is an error that names it and says how to fetch it, instead of a hang on an unreachable hub.
"""

from __future__ import annotations

from pathlib import Path


class ModelLoadError(RuntimeError):
    """A model, checkpoint or adapter cannot be loaded; the message says which and how to fix it."""


class CheckpointNotFoundError(ModelLoadError):
    """A hub checkpoint is not in the local cache."""


def local_checkpoint(ref: str) -> Path:
    """A local directory as is, or the cached snapshot of hub id `ref` (offline: never downloads)."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path.resolve()
    if ref.startswith((".", "/", "~")):
        raise ModelLoadError(f"checkpoint directory {ref!r} does not exist")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(ref, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError, OSError, ValueError) as e:
        raise CheckpointNotFoundError(
            f"checkpoint {ref!r} is not in the local Hugging Face cache ({_cache_hint()}); the harness never "
            f"downloads at run time. Fetch it first: `huggingface-cli download {ref}` (gated models such as "
            f"google/gemma-3-* need an accepted licence and a token: `huggingface-cli login` or HF_TOKEN), or put "
            f"a local directory in the model spec's `base`.") from e


def _cache_hint() -> str:
    try:
        from huggingface_hub.constants import HF_HUB_CACHE

        return f"looked in {HF_HUB_CACHE}"
    except ImportError:  # pragma: no cover
        return "HF_HOME"
