"""`vlm2vla models ...`: build the embedded models, and try a model on a D_lan example."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harness.cli.common import fail

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Model specs as loaded models: build the embedded ones, generate on a D_lan example.")


@app.command("build")
def build_cmd(model: str = typer.Argument(..., help="A model spec whose base is embedded:<name> (tiny, gemma3-270m).")):
    """Build (once) and load an embedded model, printing where its checkpoint is cached."""
    from harness.models import ModelLoadError, load_model
    from harness.specs import SpecError

    try:
        loaded = load_model(model)
    except (SpecError, ModelLoadError, ValueError) as e:
        fail(str(e), 2)
    n = sum(p.numel() for p in loaded.model.parameters())
    typer.echo(f"{loaded.spec.name}: {n / 1e6:.1f}M parameters, cached at {loaded.base_dir}")


@app.command("generate")
def generate_cmd(model: str = typer.Option(..., "--model", help="Model spec (with its adapter, if it has one)."),
                 data: Path = typer.Option(..., "--data", help="D_lan directory."),
                 stage: str = typer.Option("action", help="Stage of the example: subtasks, plan, action, ..."),
                 example: str = typer.Option(None, help="example_id; default: the first of the stage in the split."),
                 split: str = typer.Option("train", help="D_lan split to read."),
                 max_new_tokens: int = typer.Option(None, help="Default: the spec's budget for the stage.")):
    """Greedy-generate the answer to one D_lan example and compare it with the target; for action examples the
    text is parsed with the spec's action codec (exit status 2 if it does not parse)."""
    from PIL import Image

    from harness.actions import ActionParseError, chunk_to_lists
    from harness.data.dlan import read_examples
    from harness.models import ModelLoadError, load_model
    from harness.models.codec import action_codec
    from harness.specs import SpecError

    try:
        loaded = load_model(model)
        ex = next((e for e in read_examples(data, split=split, stage=stage)
                   if example is None or e.example_id == example), None)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    if ex is None:
        fail(f"{data}: no {stage!r} example {example or ''} in split {split!r}", 2)
    images = [Image.open(Path(data) / p).convert("RGB") for p in ex.images]
    sampling = getattr(loaded.spec.generation, stage if stage in ("plan", "action") else "subtasks")
    text = loaded.generate([*images, ex.prompt], max_new_tokens=max_new_tokens or sampling.max_new_tokens)
    target = ex.target_for(loaded.action_spec().type)
    typer.echo(f"example:   {ex.example_id}\nprompt:    {ex.prompt!r}\ntarget:    {target!r}\ngenerated: {text!r}")
    if stage != "action":
        return
    try:
        chunk = action_codec(loaded).decode(text)
    except ActionParseError as e:
        fail(f"the generated action text does not parse: {e}", 2)
    typer.echo(f"parsed:    {json.dumps(chunk_to_lists(chunk))}")


@app.command("actions")
def actions_cmd(model: str = typer.Option(..., "--model", help="Model spec (with its adapter, if it has one)."),
                data: Path = typer.Option(..., "--data", help="D_lan directory."),
                split: str = typer.Option("heldout", help="D_lan split whose action examples are generated."),
                limit: int = typer.Option(None, help="Only the first N action examples of the split."),
                show: int = typer.Option(3, help="Print this many generated texts next to their targets."),
                require_parse_rate: float = typer.Option(
                    None, help="Exit 1 when fewer than this fraction parse (default: report only)."),
                progress: bool = typer.Option(True, help="Progress bar.")):
    """Greedy-generate every action example of a D_lan split and report how many parse with the model's action codec
    and the mean absolute error of the parsed chunks' net translation (cm), next to a model that never moves.

    An honest check of a trained adapter: every example of the split counts, not a chosen one."""
    from harness.data.dlan import read_examples
    from harness.mechanism.action_quality import action_quality
    from harness.models import ModelLoadError, load_model
    from harness.specs import SpecError

    try:
        loaded = load_model(model)
        quality = action_quality(loaded, data, loaded.action_spec().type, split=split, limit=limit,
                                 progress=progress)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    targets = {ex.example_id: ex.target_for(quality.representation)
               for ex in read_examples(data, split=split, stage="action")}
    for sample in quality.samples[:show]:
        flag = "parsed" if sample["parsed"] else "NOT PARSED"
        typer.echo(f"{sample['example_id']} ({flag})\n  target:    {targets[sample['example_id']][:160]!r}\n"
                   f"  generated: {sample['text'][:160]!r}")
    typer.echo(f"{loaded.spec.name} on {split} actions ({quality.representation}): parsed {quality.parsed}/{quality.n} "
               f"({quality.parse_rate:.0%}); net translation MAE {quality.mae_cm:.2f} cm over the parsed ones "
               f"(a model that never moves: {quality.zero_motion_mae_cm:.2f} cm)")
    if require_parse_rate is not None and quality.parse_rate < require_parse_rate:
        fail(f"parse rate {quality.parse_rate:.0%} is below the required {require_parse_rate:.0%}", 1)


@app.command("image-signal")
def image_signal_cmd(model: str = typer.Option(..., "--model", help="Model spec (with its adapter, if it has one)."),
                     data: Path = typer.Option(..., "--data", help="D_lan directory."),
                     stage: str = typer.Option("plan", help="D_lan stage whose one-image examples are the scenes."),
                     split: str = typer.Option("heldout", help="D_lan split."),
                     limit: int = typer.Option(16, min=2, help="Scenes (examples) measured.")):
    """How much of the difference between scenes reaches the model: relative across-scene variation of the pixels,
    the vision tower's output and the projected image tokens, and how far the next-token log-probabilities move
    when an example's image is swapped for another scene's (or a black image).

    A policy that must locate its target cannot learn through an image pathway whose projected tokens barely differ
    between scenes; this says so before hours of training do."""
    from harness.mechanism.image_signal import image_signal
    from harness.models import ModelLoadError, load_model
    from harness.specs import SpecError

    try:
        loaded = load_model(model)
        s = image_signal(loaded, data, stage=stage, split=split, limit=limit)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    v = s.variation
    typer.echo(f"{loaded.spec.name}, {s.n} {split} {stage} scenes: across-scene variation (relative to the mean "
               f"scene) pixels {v['pixels']:.3f}, vision tower {v['tower']:.3f}, projected image tokens "
               f"{v['projected']:.3f}\nnext-token log-prob shift (max |Δ|, mean over scenes): another scene's image "
               f"{s.swap_shift:.4f}, a black image {s.blank_shift:.4f}")
