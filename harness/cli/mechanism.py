"""`vlm2vla logprob` (Fig. 3) and `vlm2vla forgetting` (the representation x method grid)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from harness.cli.common import fail

DEFAULT_DATA = Path("results/data/dlan")


def logprob_cmd(
    model: str = typer.Option(..., "--model", help="Model spec (experiments/models/), measured as it loads: an "
                              "untuned spec (gemma3-270m, gemma3-base) gives the paper's Fig. 3; a spec with an "
                              "adapter gives the same picture after fine-tuning."),
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="D_lan directory (`vlm2vla data build`)."),
    split: str = typer.Option("heldout", "--split", help="D_lan split whose action examples are scored."),
    limit: int = typer.Option(None, "--limit", min=1, help="Score only the first N action examples of the split."),
    include_end_of_turn: bool = typer.Option(False, "--include-end-of-turn/--exclude-end-of-turn",
                                             help="Count the closing <end_of_turn> as a target token (default: "
                                                  "not; it is chat format, not action text)."),
    out: Path = typer.Option(None, "--out", help="CSV to write; default results/mechanism/logprob_<model>.csv. "
                             "The density plot is written beside it (.png, .pdf)."),
    figure: bool = typer.Option(True, "--figure/--no-figure", help="Also draw the density plot (reports extra)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Fig. 3: the mean per-token log-probability of each held-out action under the model, teacher-forced after the
    same prompt and image, written as verbalized text and as the model's 10 least likely tokens. One CSV row per
    (example, representation) (harness.records.LogprobRow)."""
    from harness.mechanism.logprob import logprob_path, logprob_rows, require_split, summarize
    from harness.models import ModelLoadError, load_model
    from harness.records import write_rows
    from harness.records.rows import LogprobRow
    from harness.specs import SpecError

    try:
        require_split(data, split)  # before the model loads (minutes for a large one)
        loaded = load_model(model)
        rows = logprob_rows(loaded, data, split=split, limit=limit, include_end_of_turn=include_end_of_turn,
                            progress=progress)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    path = out or logprob_path(loaded.spec.name)
    write_rows(path, rows, LogprobRow)
    tuned = f" with adapter {loaded.spec.adapter} (tuned, not Fig. 3's untuned model)" if loaded.spec.adapter else ""
    eot = "counting" if include_end_of_turn else "not counting"
    typer.echo(f"{loaded.spec.name}{tuned}: {split} action examples of {data}, teacher-forced, {eot} <end_of_turn>")
    summary = summarize(rows)
    for rep, (d, n_tok) in summary.items():
        typer.echo(f"  {rep:<13} n={d.n:<4} mean {d.mean:7.2f}  median {d.median:7.2f}"
                   f"  range [{d.min:.2f}, {d.max:.2f}] nats/token; {n_tok:.1f} tokens/example")
    if len(summary) == 2:
        gap = summary["verbalized"][0].mean - summary["least_likely"][0].mean
        paper = _paper_fig3()
        typer.echo(f"  gap: verbalized actions are {gap:.2f} nats/token more likely" + (f" ({paper})" if paper else ""))
    typer.echo(f"wrote {path} ({len(rows)} rows)")
    if figure:
        _logprob_figure(rows, path.with_suffix(""))


def _paper_fig3() -> str:
    """The paper's Fig. 3 values from results/paper/logprob.csv (empty when the reports extra is missing)."""
    try:
        from harness.reports.paper import PaperLogprobRow, default_paper_dir, fig3_reference, load_paper
    except ImportError:
        return ""
    return fig3_reference(load_paper(default_paper_dir(), "logprob.csv", PaperLogprobRow).rows)


def _logprob_figure(rows, stem: Path) -> None:
    try:
        from harness.reports.figure import save, style
        from harness.reports.logprob import logprob_figure
        from harness.reports.paper import PaperLogprobRow, default_paper_dir, load_paper
    except ImportError as e:
        typer.echo(f"figure skipped ({e.name} is missing: pip install -e '.[reports]')")
        return
    paper = load_paper(default_paper_dir(), "logprob.csv", PaperLogprobRow).rows
    with style():
        paths = save(logprob_figure(rows, paper), stem)
    typer.echo("figure: " + ", ".join(str(p) for p in paths))


def forgetting_cmd(
    model: str = typer.Option(..., "--model", help="Base model spec to fine-tune (its adapter, if any, is ignored)."),
    data: Path = typer.Option(DEFAULT_DATA, "--data", help="D_lan directory: trained on its train split, actions "
                              "measured on its heldout split."),
    steps: int = typer.Option(None, "--steps", min=1, help="Optimiser steps of every arm (default: the recipes' "
                              "max_steps, which must agree)."),
    lora_recipe: str = typer.Option("forgetting-lora-cpu", "--lora-recipe", help="Recipe of the two LoRA arms "
                                    "(on a GPU, e.g. lora-paper)."),
    full_recipe: str = typer.Option("forgetting-full-cpu", "--full-recipe", help="Recipe of the two full "
                                    "fine-tuning arms; batch, accumulation, seed, length and precision must equal "
                                    "the LoRA recipe's."),
    probe: str = typer.Option("knowledge", "--probe", help="Probe set (experiments/probes/)."),
    probe_limit: int = typer.Option(None, "--probe-limit", min=1, help="Use N probe items spread over the set."),
    heldout_limit: int = typer.Option(None, "--heldout-limit", min=1, help="Measure actions on the first N "
                                      "held-out action examples."),
    restart: bool = typer.Option(False, "--restart", help="Discard this model's earlier grid (results and "
                                 "training runs) and start over."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
):
    """The forgetting grid: fine-tune the model on D_lan in four arms, {verbalized, least-likely tokens} x {LoRA,
    full}, with the same steps, data order and seed; before and after, measure retained knowledge (probe set scored
    by likelihood) and held-out action quality (parse rate, error of the decoded translation). Writes
    results/mechanism/forgetting_<model>.csv (harness.records.ForgettingRow) and prints the table. Re-running
    resumes: finished arms are read back, an interrupted training run resumes from its checkpoint."""
    from harness.mechanism.grid import GridMismatchError, plan_grid, run_grid
    from harness.mechanism.grid import restart as restart_grid
    from harness.mechanism.verdict import paper_claim
    from harness.models import ModelLoadError
    from harness.specs import SpecError
    from harness.train.recipe import RunMismatchError

    try:
        plan = plan_grid(model, data, steps=steps, lora_recipe=lora_recipe, full_recipe=full_recipe, probe=probe,
                         probe_limit=probe_limit, heldout_limit=heldout_limit)
    except (SpecError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    if restart:
        restart_grid(plan)
    _print_plan(plan)
    try:
        result = run_grid(plan, progress=progress, on_arm=_print_arm)
    except (GridMismatchError, RunMismatchError) as e:
        fail(f"{e}" + ("" if "--restart" in str(e) else "; or rerun with --restart to discard the grid's runs"), 2)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    _print_table(result)
    for line in paper_claim(result):
        typer.echo(line)
    typer.echo(f"wrote {plan.csv_path} (per-arm details: {plan.state_dir}/<arm>.json)")


def _print_plan(plan) -> None:
    lora, full = plan.recipes["lora"], plan.recipes["full"]
    langs = Counter(it.lang for it in plan.probe.items)
    typer.echo(
        f"forgetting grid for {plan.model.name}: 4 arms (verbalized | least_likely) x (lora | full), {plan.steps} "
        f"optimiser steps each, batch {lora.batch_size} (effective {lora.effective_batch}), seed {lora.seed}, the "
        f"same data order; lora: {lora.name} (lr {lora.optimizer.lr:g}), full: {full.name} (lr {full.optimizer.lr:g})\n"
        f"  train split: {plan.n_train} examples of {plan.data_dir}\n"
        f"  probe: {plan.probe.name}, {plan.n_probe} of {len(plan.probe.items)} items "
        f"({', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}), scored by likelihood\n"
        f"  held-out action examples: {plan.n_heldout} (greedy generation, parse rate, MAE of the net translation)\n"
        f"  results: {plan.csv_path}; runs: {plan.run_dir('<arm>')}")


def _print_arm(r) -> None:
    when = " (from an earlier run)" if r.cached else ""
    trained = "" if r.method == "none" else (
        f"trained {r.steps} steps on {r.train_examples} examples in {r.train_wall_s / 60:.1f} min "
        f"(CPU {r.train_cpu_s / 60:.1f} min; loss {r.first_loss:.3f} -> {r.last_loss:.3f}); ")
    mae = f"{r.mae_cm:.2f} cm" if r.mae_cm == r.mae_cm else "n/a"
    logp = ", ".join(f"{k} {v:.2f}" for k, v in r.heldout_logprob.items())
    typer.echo(f"{r.arm}{when}: {trained}probe {r.probe_accuracy:.3f}, held-out action log-p {logp} nats/token, "
               f"parse {r.parse_rate:.2f} "
               f"({round(r.parse_rate * r.n_heldout)}/{r.n_heldout}), MAE {mae}; measured in {r.eval_wall_s / 60:.1f} min "
               f"(probe {r.probe_wall_s / 60:.1f}, actions {r.actions_wall_s / 60:.1f}; CPU {r.eval_cpu_s / 60:.1f} min)")


def _print_table(result) -> None:
    from harness.mechanism.probes import chance_accuracy, subset

    base = result.base
    head = (f"{'arm':<18} {'method':<6} {'steps':>5} {'train min':>9} {'probe acc':>9} {'retention':>9} "
            f"{'d log-p':>8} {'action log-p':>12} {'parse':>6} {'MAE cm':>7}")
    typer.echo("\n" + head + "\n" + "-" * len(head))
    for r in [base, *result.arms]:
        retention = result.retention(r)
        mae = f"{r.mae_cm:7.2f}" if r.mae_cm == r.mae_cm else f"{'n/a':>7}"
        train_min = f"{r.train_wall_s / 60:9.1f}" if r.method != "none" else f"{'-':>9}"
        logp = " / ".join(f"{v:.2f}" for v in r.heldout_logprob.values()) or "n/a"
        typer.echo(f"{r.arm:<18} {r.method:<6} {r.steps:>5} {train_min} {r.probe_accuracy:9.3f} {retention:8.1f}% "
                   f"{r.probe_answer_logprob - base.probe_answer_logprob:8.2f} {logp:>12} {r.parse_rate:6.2f} {mae}")
    chance = chance_accuracy(subset(result.plan.probe.items, result.plan.probe_limit))
    typer.echo(f"probe: {base.probe_n} items, chance {100 * chance:.0f} %; d log-p: change of the right answer's mean log-probability "
               f"(nats) vs base; action log-p: mean nats/token of the held-out action targets in the arm's "
               f"representation (base: verbalized / least_likely); MAE of the net translation over parsed held-out actions ({base.n_heldout} "
               f"examples); a model that never moves scores {base.zero_motion_mae_cm:.2f} cm")
    every = [base, *result.arms]
    wall = sum(r.train_wall_s + r.eval_wall_s for r in every) / 60
    cpu = sum(r.train_cpu_s + r.eval_cpu_s for r in every) / 60
    typer.echo(f"time, all arms (training with its model loading + measurement): wall {wall:.1f} min, CPU {cpu:.1f} "
               "min (all threads; wall grows when other work shares the cores)")
    langs = sorted(base.probe_by_lang)
    typer.echo("probe accuracy by language: " + "; ".join(
        f"{r.arm} " + " ".join(f"{k} {r.probe_by_lang.get(k, float('nan')):.2f}" for k in langs)
        for r in [base, *result.arms]))
