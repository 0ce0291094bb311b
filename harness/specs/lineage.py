"""Which model spec a fine-tuned one was tuned from, and where its adapter lives: one rule for the VQA CLI, the
reports and the model loader.

- Fine-tuned: the spec names an adapter or the recipe that produces one.
- Its base: the untuned spec of the same `type` on the same `base` checkpoint (the first by name when several
  qualify), i.e. the model as released that retention is measured against.
- An adapter path: as given when that directory exists (absolute, or relative to the working directory), else under
  runs/ (a relative spec value, `vlm2vla/adapter`, names a training run's output).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from harness.paths import runs_dir
from harness.specs.base import SpecError
from harness.specs.loader import list_specs, load_model
from harness.specs.model import ModelSpec


def model_specs() -> dict[str, ModelSpec]:
    """Every valid model spec by name (an invalid one is `vlm2vla specs check`'s to report, not a lookup's)."""
    out = {}
    for ref in list_specs("models"):
        try:
            out[ref.name] = load_model(ref.name)
        except SpecError:
            continue
    return out


def is_fine_tuned(spec: ModelSpec) -> bool:
    return spec.adapter is not None or spec.recipe is not None


def base_model_of(name: str, specs: Mapping[str, ModelSpec] | None = None) -> str | None:
    """The untuned spec model `name` is compared with; None when `name` is not a fine-tuned spec or has no such
    base. `specs` (name -> spec) saves re-reading the spec files for callers that look up many names."""
    specs = model_specs() if specs is None else specs
    target = specs.get(name)
    if target is None or not is_fine_tuned(target):
        return None
    bases = sorted(n for n, s in specs.items()
                   if not is_fine_tuned(s) and s.base == target.base and s.type == target.type)
    return bases[0] if bases else None


def adapter_candidates(adapter: str | Path) -> tuple[Path, Path]:
    """Where an adapter path is looked for, in order: as given, then under runs/."""
    path = Path(adapter).expanduser()
    return path, runs_dir() / path


def find_adapter(adapter: str | Path) -> Path | None:
    """The adapter directory (resolved), or None when it has not been trained yet."""
    return next((p.resolve() for p in adapter_candidates(adapter) if p.is_dir()), None)
