"""Resumable training state: trainable weights, optimiser, scheduler, RNG and the position in the data order.

A checkpoint is written into a temporary directory and renamed into place, so a run killed while saving still
resumes from the previous complete one. Only trainable weights are stored (a LoRA checkpoint of the 12B model is
tens of MB, not 24 GB), on every path: under DeepSpeed the optimiser is sharded, so accelerate's own `save_state` is
used there, with DeepSpeed told to leave the frozen base out and the learning-rate schedule registered with it (a
resumed run must continue the schedule, not restart it).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.records.atomic import fresh_tmp_dir, replace_dir, tmp_path

STATE = "state.json"
PREFIX = "step-"


@dataclass
class Position:
    step: int = 0  # optimiser steps done
    epoch: int = 0  # current epoch
    micro: int = 0  # micro-batches of `epoch` already consumed
    first_loss: float | None = None
    last_loss: float | None = None
    elapsed_s: float = 0.0  # wall seconds the run has spent so far, over every process that ran it


def _deepspeed(accelerator: Any) -> bool:
    from accelerate.utils import DistributedType

    return accelerator.distributed_type == DistributedType.DEEPSPEED


def track(accelerator: Any, scheduler: Any) -> None:
    """Register what accelerate's `save_state` must carry besides model and optimiser (call once, before `load`).

    The scheduler is not passed to `prepare` (accelerate would step it once per process), so under DeepSpeed it has
    to be registered for checkpointing; on the plain path `save` stores it itself.
    """
    if _deepspeed(accelerator):
        accelerator.register_for_checkpointing(scheduler)


def save(out: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any, position: Position,
         keep: int = 1) -> Path:
    """Write checkpoint `<out>/checkpoints/step-N` atomically; keep the newest `keep` complete ones."""
    import torch
    from safetensors.torch import save_file

    root = out / "checkpoints"
    final = root / f"{PREFIX}{position.step:07d}"
    tmp = tmp_path(final, keep_suffix=True)  # `.tmp-step-N`: not matched by the `step-*` glob below
    if accelerator.is_main_process:
        fresh_tmp_dir(final, keep_suffix=True)
    accelerator.wait_for_everyone()
    if _deepspeed(accelerator):
        accelerator.save_state(str(tmp), exclude_frozen_parameters=True)
    elif accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        weights = {n: p.detach().contiguous().cpu() for n, p in unwrapped.named_parameters() if p.requires_grad}
        save_file(weights, str(tmp / "trainable.safetensors"))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "rng": torch.get_rng_state()}, tmp / "optim.pt")
    if accelerator.is_main_process:
        (tmp / STATE).write_text(json.dumps(asdict(position)))
        replace_dir(tmp, final)
        for old in sorted(p for p in root.glob(f"{PREFIX}*") if (p / STATE).is_file())[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def latest(out: Path) -> Path | None:
    done = sorted(p for p in (out / "checkpoints").glob(f"{PREFIX}*") if (p / STATE).is_file())
    return done[-1] if done else None


def load(path: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any) -> Position:
    """Restore a checkpoint written by `save` into the prepared objects; returns where training stopped."""
    import torch
    from safetensors.torch import load_file

    if _deepspeed(accelerator):
        accelerator.load_state(str(path), load_module_strict=False)  # the frozen base was not saved
    else:
        weights = load_file(str(path / "trainable.safetensors"))
        unwrapped = accelerator.unwrap_model(model)
        trainable = {n for n, p in unwrapped.named_parameters() if p.requires_grad}
        if set(weights) != trainable:
            raise RuntimeError(f"{path}: checkpoint holds other parameters than this run trains "
                               f"({len(set(weights) ^ trainable)} differ); was the recipe changed? Use a new --out")
        unwrapped.load_state_dict(weights, strict=False)
        rest = torch.load(path / "optim.pt", map_location="cpu", weights_only=False)
        optimizer.load_state_dict(rest["optimizer"])
        scheduler.load_state_dict(rest["scheduler"])
        torch.set_rng_state(rest["rng"])
    return Position(**json.loads((path / STATE).read_text()))
