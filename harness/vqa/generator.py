"""What answers a VQA run's prompts: the registry's loaded model, or for a `ws://` URL (or a `type: remote` spec) the
served model's text requests (`vlm2vla serve` on a GPU box, or in a baseline's own environment). Both have the
`generate_batch` the VLMEvalKit adapter calls, so predictions and scoring are the same code either way."""

from __future__ import annotations

from typing import Any

from harness.specs import load_model as load_model_spec
from harness.specs.model import ModelSpec


def load_generator(model: str | ModelSpec) -> Any:
    """The model's text generator (raises `SpecError`, `ModelLoadError` or `PolicyServerError` naming the cause)."""
    spec = load_model_spec(model) if isinstance(model, str) else model
    if spec.type == "remote":
        from harness.serve.remote import remote_text_model

        return remote_text_model(spec)
    from harness.models.registry import load_model

    return load_model(spec)
