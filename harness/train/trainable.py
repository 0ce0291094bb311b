"""Which parameters a recipe trains: LoRA on the language model's linear layers (the paper), or everything in the
language model (`--full`, the forgetting ablation); the projector when the recipe says so; the vision tower never,
unless the recipe asks for it (the embedded models' tower is random).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.specs.recipe import RecipeSpec

VISION = "vision_tower"
PROJECTOR = "multi_modal_projector"
LANGUAGE = "language_model"


def component(name: str) -> str:
    """The part of a Gemma-3 VLM a parameter belongs to (for reports and tests)."""
    if "lora_" in name:
        return "lora"
    for part in (VISION, PROJECTOR, LANGUAGE):
        if part in name:
            return part
    return "lm_head" if "lm_head" in name else "other"


def lora_config(recipe: RecipeSpec) -> Any:
    from peft import LoraConfig

    extra = [PROJECTOR] if recipe.train_projector else []
    extra += [VISION] if recipe.train_vision_tower else []
    return LoraConfig(
        r=recipe.lora.r, lora_alpha=recipe.lora.alpha, lora_dropout=recipe.lora.dropout,
        target_modules=list(recipe.lora.target_modules),
        # SigLIP has q/k/v_proj too: the adapter goes on the language model only
        exclude_modules=rf".*{VISION}.*" if recipe.lora.exclude_vision_tower else None,
        modules_to_save=extra or None, task_type="CAUSAL_LM")


def make_trainable(model: Any, recipe: RecipeSpec) -> Any:
    """Freeze or wrap `model` as the recipe says; returns the model to train (a PeftModel for LoRA; for full
    fine-tuning the model itself, in fp32 whatever dtype it was loaded in)."""
    if recipe.method == "lora":
        from peft import get_peft_model

        from harness.models.registry import peft_quiet

        for p in model.parameters():
            p.requires_grad_(False)
        with peft_quiet():
            return get_peft_model(model, lora_config(recipe))
    import torch

    # fp32 master weights: AdamW on bf16 weights rounds most small updates away (lr 5e-5 on a weight near 1 is
    # below half a bf16 step), which would understate forgetting; bf16 speed comes from accelerate's autocast.
    # (LoRA needs nothing: peft keeps adapter weights in fp32 on a bf16 base.)
    model.to(torch.float32)
    for name, p in model.named_parameters():
        part = component(name)
        p.requires_grad_(part in (LANGUAGE, "lm_head") or (part == PROJECTOR and recipe.train_projector)
                         or (part == VISION and recipe.train_vision_tower))
    return model


def trainable_counts(model: Any) -> dict[str, int]:
    """Trainable parameter count per component."""
    counts: Counter[str] = Counter()
    for name, p in model.named_parameters():
        if p.requires_grad:
            counts[component(name)] += p.numel()
    return dict(counts)
