"""Load any model spec by name: base checkpoint, optional adapter, dtype and device. The one entry point every
stage (training, policy, VQA, mechanism) uses.

`type` in the spec picks the loader: `gemma3` (hub checkpoints through `AutoModelForImageTextToText`, or the
embedded offline models) and `openvla` / `ecot` (the baselines, `harness.models.openvla`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.models.builtin import builtin_dir, is_builtin
from harness.models.hub import ModelLoadError, local_checkpoint
from harness.models.loaded import LoadedModel
from harness.specs import load_model as load_model_spec
from harness.specs.lineage import adapter_candidates, find_adapter
from harness.specs.model import ModelSpec

_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}


def resolve_device(device: str | None) -> str:
    import torch

    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def resolve_dtype(dtype: str | None, device: str) -> Any:
    """`auto`: bf16 on a GPU that supports it, float32 otherwise (CPU bf16 matmuls are slow and lossy)."""
    import torch

    if dtype in (None, "auto"):
        bf16 = device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
        return torch.bfloat16 if bf16 else torch.float32
    if dtype not in _DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of auto, {', '.join(_DTYPES)}")
    return getattr(torch, _DTYPES[dtype])


def resolve_adapter(adapter: str | Path, spec: ModelSpec) -> Path:
    """An adapter path as given, else under runs/; a clear error if it has not been trained yet."""
    found = find_adapter(adapter)
    if found is not None:
        return found
    path, under_runs = adapter_candidates(adapter)
    run = Path(adapter).parent if Path(adapter).name == "adapter" else Path(adapter)
    raise ModelLoadError(
        f"model {spec.name!r}: adapter {str(adapter)!r} not found (looked in {path} and {under_runs}); "
        f"train it first: `vlm2vla train --model {spec.name} --data results/data/dlan --out runs/{run}`")


def load_model(spec: ModelSpec | str, *, adapter: str | Path | None = None, device: str | None = None,
               dtype: str | None = None) -> LoadedModel:
    """Load a model spec (a name under experiments/models/, or a `ModelSpec`).

    `adapter` overrides the spec's adapter (a directory, or a path under runs/); `device` and `dtype` override
    the spec's. With an adapter the model is a peft `PeftModel` (or, for a full fine-tuning run's saved model,
    that model). Weights come from local files only.
    """
    if isinstance(spec, str):
        spec = load_model_spec(spec)
    device = resolve_device(device or spec.device)
    torch_dtype = resolve_dtype(dtype or spec.dtype, device)
    adapter = adapter if adapter is not None else spec.adapter
    adapter_dir = resolve_adapter(adapter, spec) if adapter else None
    if spec.type == "gemma3":
        return _load_gemma3(spec, adapter_dir, device, torch_dtype)
    if spec.type in ("openvla", "ecot"):
        from harness.models.openvla import load_openvla

        return load_openvla(spec, adapter_dir, device, torch_dtype)
    raise ModelLoadError(f"model {spec.name!r} has type {spec.type!r}, which is not loaded by the model registry "
                         "(the simulator's oracle reads the scene: use it with --robot sim)")


def _load_processor(path: Path) -> Any:
    from transformers import AutoProcessor

    return AutoProcessor.from_pretrained(path, local_files_only=True)


def _load_gemma3(spec: ModelSpec, adapter_dir: Path | None, device: str, torch_dtype: Any) -> LoadedModel:
    from transformers import AutoModelForImageTextToText

    base_dir = builtin_dir(spec.base, spec.image_size) if is_builtin(spec.base) else local_checkpoint(spec.base)
    full_model = adapter_dir is not None and (adapter_dir / "config.json").is_file()
    weights_dir = adapter_dir if full_model else base_dir
    placement = {"device_map": device} if device.startswith("cuda") else {}  # straight onto the GPU, not via RAM
    model = AutoModelForImageTextToText.from_pretrained(weights_dir, dtype=torch_dtype, local_files_only=True,
                                                        **placement)
    processor = _load_processor(weights_dir if full_model and _has_processor(weights_dir) else base_dir)
    if adapter_dir is not None and not full_model:
        if not (adapter_dir / "adapter_config.json").is_file():
            raise ModelLoadError(f"{adapter_dir}: neither a peft adapter (adapter_config.json) nor a saved model "
                                 "(config.json); point the spec's `adapter` at a training run's adapter directory")
        from peft import PeftModel

        with peft_quiet():
            model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
    model.to(device)
    model.eval()
    return LoadedModel(spec=spec, model=model, processor=processor, tokenizer=processor.tokenizer, device=device,
                       base_dir=base_dir, adapter_dir=adapter_dir)


@contextlib.contextmanager
def peft_quiet() -> Iterator[None]:
    """Wrapping a model in peft 0.21.2 (the newest) reads `is_gradient_checkpointing`, which transformers 5.24
    deprecates: nothing of ours calls it, so that one warning is not shown on every load."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`is_gradient_checkpointing` is deprecated", FutureWarning)
        yield


def _has_processor(path: Path) -> bool:
    return (path / "processor_config.json").is_file() or (path / "preprocessor_config.json").is_file()
