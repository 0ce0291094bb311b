"""`vlm2vla vqa ...`: VQA suites through VLMEvalKit (paper suite from $LMUData, or the offline embedded suite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from harness.cli.common import fail
from harness.specs import SpecError, load_vqa_suite
from harness.specs.lineage import base_model_of
from harness.specs.vqa import VQASuiteSpec
from harness.vqa import data, generated, scores
from harness.vqa import judge as judges

app = typer.Typer(rich_markup_mode=None, no_args_is_help=False,
                  help="VQA suites through VLMEvalKit. `vlm2vla vqa --model NAME --suite paper|embedded` predicts "
                       "every benchmark of the suite with the model and scores it with VLMEvalKit; subcommands stage "
                       "the embedded suite, check $LMUData, benchmark batching and print retention.")


def _suite(name: str) -> VQASuiteSpec:
    try:
        return load_vqa_suite(name)
    except SpecError as e:
        fail(str(e), 2)


def _kit():
    """VLMEvalKit, imported with its side effects undone (a clear error when it is not installed)."""
    from harness.vqa import kit

    try:
        kit.load()
    except kit.VLMEvalUnavailable as e:
        fail(str(e), 1)
    return kit


def _model_name(name: str) -> str:
    """The name results are filed under: a spec's own, or for a served model's URL its spec's (safe for paths)."""
    from harness.specs.model import is_remote_url, remote_spec

    return remote_spec(name).name if is_remote_url(name) else name


def _load_model(name: str) -> Any:
    """The registry's loaded model, or a served model's text requests (anything with `generate_batch`)."""
    from harness.serve.errors import PolicyServerError
    from harness.vqa.generator import load_generator

    try:
        return load_generator(name)
    except SpecError as e:
        fail(str(e), 2)
    except PolicyServerError as e:
        fail(str(e), 1)


def _data_root(suite: VQASuiteSpec, lmudata: Path | None) -> Path:
    """Resolve and check the suite's LMUData (staging the embedded suite first); fails before any heavy import."""
    try:
        root = data.lmudata_root(suite, lmudata)
        if suite.generated:
            generated.stage(root)
        data.check(suite, root)
        return root
    except data.LMUDataError as e:
        fail(str(e), 2)


def _check_against_kit(suite: VQASuiteSpec) -> None:
    kit = _kit()
    try:
        data.check_spec_md5(suite, kit.expected_md5)
    except data.LMUDataError as e:
        fail(str(e), 2)


def _print_rows(rows: list, run_dir: Path | None = None) -> None:
    from harness.records import CHANCE_MODEL

    heads = [r for r in rows if r.metric == scores.HEADLINE and r.model != CHANCE_MODEL]
    chance = {r.benchmark: r.score for r in rows if r.metric == scores.HEADLINE and r.model == CHANCE_MODEL}
    if heads:
        typer.echo(f"{'benchmark':<22} {'label':<10} {'score':>10} {'chance':>10} {'scale':<6} {'n':>6}  judge")
    for r in heads:
        at_chance = f"{chance[r.benchmark]:>10.2f}" if r.benchmark in chance else f"{'-':>10}"
        typer.echo(f"{r.benchmark:<22} {r.label:<10} {r.score:>10.2f} {at_chance} {r.scale:<6} {r.n:>6}  {r.judge}")
    if run_dir is not None:
        typer.echo(f"run directory: {run_dir}")


def _print_retention(model: str, base: str | None, suite: str) -> None:
    from harness.records import VQAScoreRow, read_rows

    if base is None:
        return
    csv = scores.scores_csv()
    table = scores.retention(read_rows(csv, VQAScoreRow), model, base, suite) if csv.exists() else []
    if not table:
        typer.echo(f"retention: no {suite!r} scores for base model {base!r} yet "
                   f"(run `vlm2vla vqa --model {base} --suite {suite}`)")
        return
    typer.echo(f"retention of {model} vs {base} ({suite}):")
    for t in table:
        pct = "n/a (base at or below chance)" if t.retention_pct is None else f"{t.retention_pct:.1f} %"
        chance = "" if t.chance_score is None else f"  (chance {t.chance_score:.2f})"
        typer.echo(f"  {t.label:<10} {t.model_score:>10.2f} / {t.base_score:>10.2f}  {pct}{chance}")


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    model: str = typer.Option(None, "--model", help="Model spec name (experiments/models/), e.g. gemma3-270m, or "
                              "a served model's URL (ws://HOST:PORT, `vlm2vla serve`: its text requests)."),
    suite: str = typer.Option("paper", "--suite", help="VQA suite spec (experiments/vqa/): paper or embedded."),
    limit: int = typer.Option(None, "--limit", min=1, help="Only the first N rows of each dataset (like "
                              "VLMEvalKit's --limit); for smoke runs, not for reported numbers."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Samples per generate call (default: suite)."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1, help="Default: the suite's."),
    judge: str = typer.Option(None, "--judge", help="exact_matching (default: the suite's) or openai "
                              "(needs VLM2VLA_JUDGE_MODEL, OPENAI_API_BASE, OPENAI_API_KEY)."),
    benchmark: list[str] = typer.Option([], "--benchmark", help="Only this dataset (repeatable)."),
    lmudata: Path = typer.Option(None, "--lmudata", help="LMUData directory (default: $LMUData; the embedded "
                                 "suite uses its own generated directory)."),
    resume: Path = typer.Option(None, "--resume", help="Continue an interrupted run in its directory "
                                "(results/vqa/<model>/<run-id>) with the same settings."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Run a VQA suite on a model: predictions, VLMEvalKit scores, rows in results/vqa/scores.csv."""
    if ctx.invoked_subcommand is not None:
        return
    if model is None:
        fail("--model is required (e.g. vlm2vla vqa --model gemma3-270m --suite embedded); see --help", 2)
    source, model = model, _model_name(model)
    spec = _suite(suite)
    try:
        chosen_judge = judges.from_env(judge or spec.judge)
    except judges.JudgeError as e:
        fail(str(e), 2)
    root = _data_root(spec, lmudata)
    _check_against_kit(spec)
    try:
        judges.preflight(chosen_judge)
    except judges.JudgeError as e:
        fail(str(e), 2)
    from harness.vqa import runner

    cfg = runner.RunConfig(model=model, suite=spec, lmudata=root, judge=chosen_judge,
                           batch_size=batch_size or spec.batch_size,
                           max_new_tokens=max_new_tokens or spec.max_new_tokens, limit=limit, only=list(benchmark))
    try:
        run_dir = runner.prepare(cfg, resume)
    except runner.RunError as e:
        fail(str(e), 2)
    generator = _load_model(source)
    typer.echo(f"vqa: {model} on {spec.name} ({len(cfg.benchmarks())} benchmarks, batch {cfg.batch_size}, "
               f"judge {chosen_judge.label}) -> {run_dir}", err=True)
    try:
        result = runner.run(generator, cfg, run_dir, progress=not quiet)
    except KeyboardInterrupt:
        typer.echo(f"\ninterrupted; predictions so far are kept. Resume with: vlm2vla vqa --model {source} "
                   f"--suite {suite} --resume {run_dir}" + (f" --limit {limit}" if limit else ""), err=True)
        raise typer.Exit(130) from None
    if result.skipped:
        typer.echo(f"already scored in this run (kept): {', '.join(result.skipped)}", err=True)
    _print_rows(result.rows, result.run_dir)
    _print_retention(model, base_model_of(model), spec.name)


@app.command("stage-embedded")
def stage_embedded(
    out: Path = typer.Option(None, "--out", help="Directory to write the TSVs to (default: the harness cache)."),
    force: bool = typer.Option(False, "--force", help="Rewrite even when an up-to-date copy exists."),
) -> None:
    """Generate the embedded suite's TSVs (VLMEvalKit format, deterministic) into an LMUData directory."""
    root = (out or data.embedded_root()).expanduser().resolve()
    paths = generated.stage(root, force=force)
    for name, path in paths.items():
        typer.echo(f"{name:<22} {generated.md5_file(path)}  {path}")


@app.command("check")
def check(
    suite: str = typer.Option("paper", "--suite", help="Suite spec to check."),
    lmudata: Path = typer.Option(None, "--lmudata", help="LMUData directory (default: $LMUData)."),
) -> None:
    """Check that every TSV of a suite is staged with VLMEvalKit's md5 (nothing is downloaded or run)."""
    spec = _suite(suite)
    _check_against_kit(spec)
    root = _data_root(spec, lmudata)
    for b in spec.benchmarks:
        typer.echo(f"ok  {b.dataset:<22} {root / (b.dataset + '.tsv')}")


@app.command("bench")
def bench(
    model: str = typer.Option(..., "--model", help="Model spec name, or a served model's URL (ws://HOST:PORT)."),
    suite: str = typer.Option("embedded", "--suite", help="Suite whose prompts are used."),
    n: int = typer.Option(32, "--n", min=1, help="Number of prompts (round-robin over the suite's benchmarks)."),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Default: the suite's."),
    max_new_tokens: int = typer.Option(None, "--max-new-tokens", min=1, help="Default: the suite's."),
    lmudata: Path = typer.Option(None, "--lmudata", help="LMUData directory (paper suite)."),
) -> None:
    """Samples/s batched vs one at a time on the same model and prompts, in one run (JSON under results/vqa/bench/)."""
    spec = _suite(suite)
    root = _data_root(spec, lmudata)
    _check_against_kit(spec)
    from harness.vqa import bench as vqa_bench

    source, model = model, _model_name(model)
    generator = _load_model(source)
    result = vqa_bench.run(generator, spec, root, model_name=model, n=n, batch_size=batch_size or spec.batch_size,
                           max_new_tokens=max_new_tokens or spec.max_new_tokens)
    out = result.write_json(vqa_bench.default_json(model))
    typer.echo(result.report())
    typer.echo(f"written: {out}")


@app.command("retention")
def retention(
    model: str = typer.Option(..., "--model", help="Fine-tuned model spec name."),
    base: str = typer.Option(None, "--base", help="Base model (default: the spec with the same checkpoint and "
                             "no adapter)."),
    suite: str = typer.Option("paper", "--suite", help="Suite name."),
) -> None:
    """Headline scores of a model relative to its base model (newest run of each), from results/vqa/scores.csv."""
    base = base or base_model_of(model)
    if base is None:
        fail(f"no base model for {model!r} (it has no adapter or no spec shares its checkpoint); pass --base", 2)
    _print_retention(model, base, suite)
