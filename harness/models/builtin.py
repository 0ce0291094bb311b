"""Built-in models: checkpoints the harness builds offline from what it ships (`embedded:<name>` as a model spec's
base), once into the cache (`build_cache`), then loaded like any local checkpoint.

`embedded:tiny` is a tiny random VLM for tests (`tiny`); `embedded:gemma3-270m` is the pretrained Gemma-3-270M made
into a small VLM (`gemma3_270m`). The spec prefix keeps its name: specs, run records and cache paths carry it.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from harness.models import gemma3_270m, tiny
from harness.paths import cache_dir

PREFIX = "embedded:"
# name -> build_dir(cache, image_size); gemma3-270m-64: the same 270M with 64 image tokens instead of 16
BUILDERS = {"tiny": tiny.build_dir, "gemma3-270m": gemma3_270m.build_dir,
            "gemma3-270m-64": partial(gemma3_270m.build_dir, tokens_per_side=8)}


def is_builtin(base: str) -> bool:
    """Whether a model spec's `base` names a built-in model."""
    return base.startswith(PREFIX)


def builtin_dir(base: str, image_size: int) -> Path:
    """Directory of the built model named by `base` (`embedded:tiny`, `embedded:gemma3-270m`), built if needed."""
    name = base.removeprefix(PREFIX)
    if name not in BUILDERS:
        raise ValueError(f"unknown embedded model {base!r}; known: {', '.join(PREFIX + n for n in BUILDERS)}")
    return BUILDERS[name](cache_dir(), image_size)
