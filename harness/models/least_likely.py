"""The least-likely token choice of a loaded model, computed once and cached by tokenizer fingerprint.

The choice is made on the *untuned* base model (adapters disabled) over the representation's neutral prompts, as
the paper does; it depends only on the base weights and tokenizer, so one file serves the base model and every
adapter trained on it. A file made for another tokenizer raises `StaleTokenFileError` and is rebuilt.

An adapter, though, carries the ids it was trained with (`TOKEN_FILE` in its directory, with the tokenizer
fingerprint): recomputed on another GPU or dtype, a near tie could flip, and the grammar would then force the wrong
ids while the output still parses. Those saved ids are served wherever the adapter runs; a mismatch is refused.
"""

from __future__ import annotations

import re
import warnings
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


TOKEN_FILE = "least_likely_tokens.json"  # in a training run's and its adapter's directory


def adapter_tokens(loaded: LoadedModel) -> LeastLikelyTokens | None:
    """The ids saved with the loaded adapter (None without an adapter, or for one saved before they were kept)."""
    if loaded.adapter_dir is None:
        return None
    path = Path(loaded.adapter_dir) / TOKEN_FILE
    if not path.is_file():
        warnings.warn(f"{loaded.adapter_dir}: no {TOKEN_FILE} (adapter saved before the ids were kept with it); "
                      "recomputing the least-likely tokens, which may differ from those it was trained with on "
                      "another GPU or dtype: retrain, or copy the run's token file into the adapter", stacklevel=3)
        return None
    try:
        tokens = LeastLikelyTokens.load(path, loaded.tokenizer)
    except StaleTokenFileError as e:
        raise StaleTokenFileError(f"{path}: the adapter was trained with least-likely tokens of another tokenizer "
                                  f"than {loaded.spec.base!r}'s; load it on the base it was trained on") from e
    spec = _spec_of(loaded)
    if spec.token_file:
        pinned = LeastLikelyTokens.load(spec.token_file, loaded.tokenizer)
        if pinned.ids != tokens.ids:
            raise StaleTokenFileError(f"{spec.token_file} pins ids {pinned.ids}, but {path} holds the ids the adapter "
                                      f"was trained with, {tokens.ids}; drop or fix the action spec's token_file")
    return tokens


def run_tokens(loaded: LoadedModel, run_dir: Path) -> LeastLikelyTokens:
    """The ids a training run uses: those it saved in `run_dir`, else chosen now and saved there (so a resumed run,
    maybe on another machine, keeps them, and the adapter is saved with them)."""
    path = Path(run_dir) / TOKEN_FILE
    if path.is_file():
        return LeastLikelyTokens.load(path, loaded.tokenizer)  # StaleTokenFileError: another tokenizer
    tokens = least_likely_tokens(loaded)
    tokens.save(path)
    return tokens


def least_likely_tokens(loaded: LoadedModel, *, refresh: bool = False) -> LeastLikelyTokens:
    """The ids saved with the loaded adapter; else the spec's `token_file` when set (must match this tokenizer);
    else the cached choice, computed if needed."""
    saved = adapter_tokens(loaded)
    if saved is not None:
        return saved
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
