"""The least-likely token choice of a loaded model, computed once and cached by tokenizer fingerprint.

The choice is made on the *untuned* base model (adapters disabled) over the representation's neutral prompts, as
the paper does; it depends only on the base weights and tokenizer, so one file serves the base model and every
adapter trained on it. A file made for another tokenizer raises `StaleTokenFileError` and is rebuilt.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from harness.actions import LeastLikelyTokens, StaleTokenFileError, select_least_likely, tokenizer_fingerprint
from harness.paths import cache_dir
from harness.specs.actions import LeastLikelySpec

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel


def _spec_of(loaded: LoadedModel) -> LeastLikelySpec:
    spec = loaded.action_spec()
    return spec.least_likely if spec.type == "least_likely" else LeastLikelySpec()


def cache_path(loaded: LoadedModel, fingerprint: str | None = None) -> Path:
    fingerprint = fingerprint or tokenizer_fingerprint(loaded.tokenizer)
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", loaded.spec.base)
    return cache_dir() / "least-likely" / f"{base}-{fingerprint[:16]}.json"


def least_likely_tokens(loaded: LoadedModel, *, refresh: bool = False) -> LeastLikelyTokens:
    """The spec's `token_file` when set (must match this tokenizer), else the cached choice, computed if needed."""
    spec = _spec_of(loaded)
    if spec.token_file:
        return LeastLikelyTokens.load(spec.token_file, loaded.tokenizer)
    fingerprint = tokenizer_fingerprint(loaded.tokenizer)
    path = cache_path(loaded, fingerprint)
    if path.is_file() and not refresh:
        try:
            tokens = LeastLikelyTokens.load(path, loaded.tokenizer)
            if tokens.prompts == list(spec.neutral_prompts):
                return tokens
        except (StaleTokenFileError, ValueError):
            pass  # stale or damaged: choose again below
    model = loaded.model
    untuned = model.disable_adapter() if hasattr(model, "disable_adapter") else nullcontext()
    with untuned:
        tokens = select_least_likely(model, loaded.tokenizer, spec.neutral_prompts, model_name=loaded.spec.base)
    tokens.save(path)
    return tokens
