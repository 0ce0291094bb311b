"""`vlm2vla bench policy`: the policy's decoding (optimized vs the naive baseline and the peer) per action cycle."""

from __future__ import annotations

import math
from pathlib import Path

import typer

from harness.cli.common import fail

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Benchmarks reported as ratios against the naive baseline (and the peer) measured in the same run.")


@app.command("policy")
def policy_cmd(
    model: str = typer.Option(..., "--model", help="Model spec (experiments/models/), e.g. gemma3-270m or "
                              "gemma3-270m-vlm2vla (needs its adapter: make demo-train). A served policy "
                              "(ws://HOST:PORT) is measured by `vlm2vla bench serve` instead."),
    cycles: int = typer.Option(100, "--cycles", min=1, help="Measured cycles per variant (the targets need >= 100)."),
    data: Path = typer.Option(Path("results/data/dlan"), "--data", help="D_lan directory: the first image and "
                              "instruction of each episode are the inputs, cycled through."),
    out: Path = typer.Option(None, "--out", help="CSV (PolicyBenchRow per cycle per variant). Default: "
                             "results/bench/policy_<model>.csv."),
    warmup: int = typer.Option(1, "--warmup", min=0, help="Untimed cycles per variant first."),
    device: str = typer.Option(None, "--device", help="Override the spec's device (cpu, cuda)."),
    variants: str = typer.Option("baseline,optimized,peer", "--variants", help="Comma-separated arms to run (the "
                                 "targets compare optimized with peer)."),
    baseline_every: int = typer.Option(1, "--baseline-every", min=1, help="Run the naive baseline on every Nth "
                                       "cycle only (interleaved as ever; its rows say which cycles). An untrained "
                                       "model's baseline writes to its token budget (about 5x the optimized cycle on "
                                       "gemma3-270m); pick N coprime with the number of D_lan observations so it "
                                       "still sees every input."),
    first_cycle: int = typer.Option(0, "--first-cycle", min=0, help="Number of the first measured cycle (its input "
                                    "and seeds are that cycle's): split a long benchmark over processes, e.g. "
                                    "--cycles 50 and --cycles 50 --first-cycle 50 --out OTHER.csv, then join the "
                                    "rows (`vlm2vla bench join`)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
):
    """Per cycle (sub-tasks, then the plan and action chunk of the first sub-task, on one observation), the
    optimized decoding (prefix KV-cache reuse, grammar-constrained sub-tasks, plans and actions, jump-forward,
    restricted logits, prompt-lookup drafts verified exactly; the spec's `generation` flags turn each off) against
    the naive baseline (three plain model.generate calls, no cache reuse, unconstrained) and the peer (model.generate
    with xgrammar's logits processor on the same grammars, the image+instruction prefix cache reused), same inputs,
    seeds and sampling, interleaved. Prints median / mean / IQR / max wall time, forward passes, prefill and
    generated tokens per cycle, malformed chunks, the ratios, where the optimized decoding loses to the peer and
    why, and whether the targets are met (against the peer: median wall <= 0.5x, forward passes <= 0.6x; 0 malformed
    for both constrained variants in >= 100 cycles)."""
    from tqdm import tqdm

    from harness.models import ModelLoadError, load_model
    from harness.policy.bench import default_csv, dlan_inputs, run_policy_bench
    from harness.policy.grammar import GrammarError
    from harness.specs import SpecError
    from harness.specs import load_model as load_model_spec

    try:
        if load_model_spec(model).type == "remote":
            fail(f"--model {model}: the policy benchmark compares two decodings of a model loaded in this process; "
                 "a served policy's cost is measured beside the server: `vlm2vla bench serve --model NAME`", 2)
        loaded = load_model(model, device=device)
        inputs = dlan_inputs(data)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    if loaded.spec.type != "gemma3":
        fail(f"model {model!r} has type {loaded.spec.type!r}; the policy benchmark runs the hierarchical gemma3 "
             "policy", 2)
    csv_path = out if out is not None else default_csv(loaded.spec.name)
    if math.gcd(baseline_every, len(inputs)) != 1:
        typer.echo(f"warning: --baseline-every {baseline_every} shares a factor with the {len(inputs)} observations: "
                   "the baseline sees only some of them", err=True)
    typer.echo(f"{loaded.spec.name} on {loaded.device}: {cycles} cycle(s) per variant over {len(inputs)} D_lan "
               f"observation(s); rows -> {csv_path}")
    bar = tqdm(total=cycles, desc="bench policy", unit="cycle", disable=not progress)
    try:
        result = run_policy_bench(loaded, inputs, cycles, csv_path=csv_path, warmup=warmup,
                                  variants=[v.strip() for v in variants.split(",") if v.strip()],
                                  baseline_every=baseline_every, first_cycle=first_cycle,
                                  progress=lambda n: bar.update(n - bar.n))
    except (GrammarError, ValueError) as e:
        fail(str(e), 2)
    finally:
        bar.close()
    typer.echo(result.report())


@app.command("join")
def join_cmd(
    parts: list[Path] = typer.Argument(..., help="CSVs of one benchmark split over processes (--first-cycle)."),
    out: Path = typer.Option(..., "--out", help="The joined CSV, e.g. results/bench/policy_<model>.csv."),
):
    """Join the rows of a policy benchmark split over processes into one CSV (each cycle measured once)."""
    from harness.policy.bench import join_csvs

    try:
        rows = join_csvs(parts, out)
    except (OSError, ValueError) as e:
        fail(str(e), 2)
    typer.echo(f"{len(rows)} rows from {len(parts)} part(s) -> {out}")
