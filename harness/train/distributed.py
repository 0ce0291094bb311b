"""The recipe's batch and clipping written into DeepSpeed's config, so ZeRO-2 trains exactly what the recipe says.

accelerate fills DeepSpeed's `auto` batch sizes from a DataLoader passed to `prepare`; the training loop builds its
own loaders (one per epoch, resumable mid-epoch), so without this `prepare(model, optimizer)` raises before step 1.
The recipe is the one source of these numbers: an accelerate config that fixes another value is refused, not
silently overridden (accelerate itself would otherwise clip at 1.0 whatever the recipe says).
"""

from __future__ import annotations

from typing import Any

from harness.specs.recipe import RecipeSpec


def deepspeed_values(recipe: RecipeSpec, processes: int) -> dict[str, int | float]:
    """DeepSpeed config keys (dotted) and the values the recipe implies on `processes` processes."""
    return {
        "train_micro_batch_size_per_gpu": recipe.batch_size,
        "gradient_accumulation_steps": recipe.grad_accum(processes),
        "train_batch_size": recipe.effective_batch,
        "gradient_clipping": recipe.max_grad_norm if recipe.max_grad_norm is not None else 0.0,  # 0: no clipping
    }


def configure_deepspeed(plugin: Any, recipe: RecipeSpec, processes: int) -> None:
    """Write the recipe's values into accelerate's `DeepSpeedPlugin` (keys that are `auto` or absent)."""
    config = plugin.deepspeed_config
    for key, want in deepspeed_values(recipe, processes).items():
        have = config.get(key, "auto")
        if have != "auto" and float(have) != float(want):
            raise ValueError(
                f"the DeepSpeed config sets {key}: {have}, but recipe {recipe.name!r} on {processes} process(es) "
                f"needs {want}; set it to auto (or leave it out) in the accelerate/DeepSpeed config file "
                "(experiments/accelerate/*.yaml): the recipe is where batch sizes and clipping are stated")
        config[key] = want
