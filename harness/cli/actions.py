"""`vlm2vla actions ...`: encode, decode, plan and merge action chunks from the shell."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harness.actions import (
    ActionParseError,
    LeastLikelyTokens,
    chunk_from_lists,
    chunk_to_lists,
    make_codec,
    merge_deltas,
    motion_plan,
)
from harness.cli.common import fail
from harness.specs import SpecError, load_actions, load_decomposition

app = typer.Typer(rich_markup_mode=None, help="The action language: chunks of [dx, dy, dz, gripper] (metres; gripper 1 open, 0 closed) "
                       "to text and back.", no_args_is_help=True)

REPR_HELP = "Action representation spec (experiments/actions/): verbalized or least-likely."
TOKENS_HELP = "Least-likely token file (JSON from `vlm2vla actions least-likely`); needed for --repr least-likely."


def _codec(repr_name: str, tokens: Path | None):
    try:
        spec = load_actions(repr_name)
    except SpecError as e:
        fail(str(e), 2)
    try:
        return make_codec(spec, LeastLikelyTokens.load(tokens) if tokens else None)
    except ValueError as e:
        fail(str(e), 2)


def _chunk_arg(text: str):
    try:
        rows = json.loads(text)
        if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
            raise ValueError("expected a non-empty JSON list of [dx, dy, dz] or [dx, dy, dz, gripper] lists")
        return chunk_from_lists(rows)
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        fail(f"bad action chunk {text!r}: {e}", 2)


@app.command("encode")
def encode_cmd(chunk: str = typer.Argument(..., help="JSON, e.g. '[[0.042, 0.01, -0.035, 0.0]]'"),
               repr: str = typer.Option("verbalized", "--repr", help=REPR_HELP),
               tokens: Path = typer.Option(None, help=TOKENS_HELP)):
    """Print the text of an action chunk."""
    codec = _codec(repr, tokens)
    try:
        typer.echo(codec.encode(_chunk_arg(chunk)))
    except ValueError as e:
        fail(str(e), 2)


@app.command("decode")
def decode_cmd(text: str = typer.Argument(..., help="e.g. 'move forward 4.2 cm, move left 1.0 cm'"),
               repr: str = typer.Option("verbalized", "--repr", help=REPR_HELP),
               tokens: Path = typer.Option(None, help=TOKENS_HELP)):
    """Print the chunk as JSON [[dx, dy, dz, gripper], ...] in metres (gripper null = unchanged); exit 2 if unreadable."""
    codec = _codec(repr, tokens)
    try:
        typer.echo(json.dumps(chunk_to_lists(codec.decode(text))))
    except ActionParseError as e:
        fail(str(e), 2)


@app.command("plan")
def plan_cmd(chunk: str = typer.Argument(..., help="JSON chunk, as for encode"),
             decomposition: str = typer.Option("bridge", help="Decomposition spec with the plan thresholds.")):
    """Print the direction-only motion plan of a chunk (e.g. 'move down and slightly forward')."""
    try:
        spec = load_decomposition(decomposition)
    except SpecError as e:
        fail(str(e), 2)
    typer.echo(motion_plan(_chunk_arg(chunk), spec.plan))


@app.command("merge")
def merge_cmd(deltas: str = typer.Argument(..., help="JSON list of per-step [dx, dy, dz, gripper] deltas"),
              decomposition: str = typer.Option("bridge", help="Decomposition spec with the merge thresholds."),
              repr: str = typer.Option("verbalized", "--repr", help=REPR_HELP),
              tokens: Path = typer.Option(None, help=TOKENS_HELP)):
    """Apply the merge rule to raw per-step deltas and print the resulting chunk's text."""
    try:
        spec = load_decomposition(decomposition)
        rows = json.loads(deltas)
        chunk = merge_deltas(rows, spec.merge)
    except SpecError as e:
        fail(str(e), 2)
    except (json.JSONDecodeError, ValueError, TypeError) as e:
        fail(f"bad deltas {deltas!r}: {e}", 2)
    typer.echo(_codec(repr, tokens).encode(chunk))


@app.command("least-likely")
def least_likely_cmd(model: str = typer.Option(..., "--model", help="Model spec whose untuned base model and "
                                               "tokenizer choose the tokens."),
                     out: Path = typer.Option(None, "--out", help="Also write the choice to this JSON file."),
                     refresh: bool = typer.Option(False, "--refresh", help="Choose again even if cached.")):
    """Choose (or read from the cache) the model's 10 least likely tokens for VLM2VLA-AT and print them."""
    from harness.models import ModelLoadError, load_model
    from harness.models.least_likely import cache_path, least_likely_tokens

    try:
        loaded = load_model(model)
    except (SpecError, ModelLoadError) as e:
        fail(str(e), 2)
    tokens = least_likely_tokens(loaded, refresh=refresh)
    if out is not None:
        tokens.save(out)
    for digit, (tid, text, lp) in enumerate(zip(tokens.ids, tokens.strings, tokens.mean_logprobs, strict=True)):
        typer.echo(f"{digit}  id {tid:>7}  {text!r:<24} mean log-prob {lp:.2f}")
    typer.echo(f"cached: {cache_path(loaded)}" + (f"; written: {out}" if out else ""))
