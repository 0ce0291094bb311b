"""`vlm2vla train`: fine-tune a model spec on D_lan with a recipe (LoRA by default, --full for the ablation)."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import fail


def train_cmd(
    model: str = typer.Option(..., "--model", help="Model spec (experiments/models/): its base is trained; its "
                              "action_repr picks the target representation; its recipe is the default recipe."),
    data: Path = typer.Option(..., "--data", help="D_lan directory (from `vlm2vla data build`); the train split is used."),
    recipe: str = typer.Option(None, "--recipe", help="Recipe spec (experiments/recipes/); default: the model's "
                               "`recipe`, else lora-paper."),
    out: Path = typer.Option(None, "--out", help="Run directory (checkpoints, log.csv, adapter/); default "
                             "runs/<the spec's adapter directory>. Re-running the same command resumes."),
    max_steps: int = typer.Option(None, "--max-steps", min=1, help="Stop after this many optimiser steps "
                                  "(overrides the recipe's epochs)."),
    full: bool = typer.Option(False, "--full", help="Full-parameter fine-tuning of the language model instead of "
                              "LoRA (the forgetting ablation)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Train, logging loss and learning rate to <out>/log.csv and results/train/<run>.csv; the adapter is saved to
    <out>/adapter with the model spec and recipe that produced it. A killed run resumes from its last checkpoint
    when the same command is run again."""
    from harness.models import ModelLoadError
    from harness.records import TrainLogRow, read_rows
    from harness.records.trend import loss_trend
    from harness.specs import SpecError
    from harness.train.recipe import RunMismatchError, train

    try:
        result = train(model, data, out, recipe=recipe, max_steps=max_steps, full=full, progress=progress)
    except (SpecError, ModelLoadError, RunMismatchError, FileNotFoundError) as e:
        fail(str(e), 2)
    trend = loss_trend(read_rows(result.out / "log.csv", TrainLogRow)) if (result.out / "log.csv").exists() else None
    took = "earlier run" if result.already_done else f"{result.wall_s:.1f} s"
    typer.echo(f"{'already trained' if result.already_done else 'trained'}: {result.steps} steps on "
               f"{result.examples} examples ({took}); {trend.describe() if trend else 'no loss logged'}; "
               f"adapter: {result.adapter_dir}")
