"""`vlm2vla check-model`: does the model still answer the fixed probe as it did when its adapter was trained?"""

from __future__ import annotations

import typer

from harness.cli.common import fail


def check_model_cmd(model: str = typer.Option(..., "--model", help="Model spec with a trained adapter.")):
    """Run the fixed greedy probe and compare with the adapter's check_reference.json; exit 1 naming each answer
    that differs (and what changed in the environment), 2 when the model or its reference is missing."""
    from harness.models import ModelLoadError, load_model
    from harness.models.check import NoReferenceError, check_model
    from harness.specs import SpecError

    try:
        loaded = load_model(model)
    except (SpecError, ModelLoadError, ValueError) as e:
        fail(str(e), 2)
    if loaded.adapter_dir is None:
        fail(f"model {model!r} has no adapter, so no reference to check against (check a trained model)", 2)
    try:
        result = check_model(loaded, loaded.adapter_dir)
    except (NoReferenceError, ValueError) as e:
        fail(str(e), 2)
    if not result.ok:
        fail(f"model {model!r} does not answer as when it was trained ({result.reference}):\n  "
             + "\n  ".join(result.differences), 1)
    typer.echo(f"{model}: probe answers match {result.reference}")
