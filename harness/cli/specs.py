"""`vlm2vla specs ...`: list, show and validate the experiment specs under experiments/."""

from __future__ import annotations

import typer

from harness.cli.common import fail
from harness.specs import SpecError, list_specs, load, resolved_yaml, validate_all

app = typer.Typer(rich_markup_mode=None, help="List, show and validate experiment specs (experiments/<kind>/<name>.yaml).",
                  no_args_is_help=True)


@app.command("list")
def list_cmd(kind: str = typer.Option(None, help="Only this kind: models, actions, decomposition, recipes, tasks, vqa.")):
    """List every spec with its kind and description."""
    try:
        refs = list_specs(kind)
    except SpecError as e:
        fail(str(e), 2)
    for ref in refs:
        try:
            desc = getattr(load(str(ref.path), ref.kind), "description", "")
        except SpecError:
            desc = "(invalid: run `vlm2vla specs validate`)"
        typer.echo(f"{ref.kind:<14} {ref.name:<22} {desc}")


@app.command("show")
def show_cmd(name: str = typer.Argument(..., help="Spec name, kind/name, or a path to a YAML file.")):
    """Print a spec with every default filled in (what the harness actually uses)."""
    try:
        typer.echo(resolved_yaml(name), nl=False)
    except SpecError as e:
        fail(str(e), 2)


@app.command("validate")
def validate_cmd():
    """Load every spec into its schema; exit 0 only if all are valid."""
    refs, errors = validate_all()
    for err in errors:
        typer.echo(f"INVALID {err}", err=True)
    typer.echo(f"{len(refs)} specs checked, {len(errors)} problem(s)")
    if errors:
        raise typer.Exit(1)
