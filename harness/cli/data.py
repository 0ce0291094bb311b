"""`vlm2vla data ...`: write a raw fixture, build D_lan from BridgeData V2, inspect it, measure throughput."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import fail
from harness.specs import SpecError

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="BridgeData V2 -> D_lan, the verbalized dataset (sub-tasks, motion plans, action chunks as "
                       "text, completion and direction questions).")


@app.command("fixture")
def fixture_cmd(out: Path = typer.Option(..., help="Directory to write (created; an existing fixture is replaced)."),
                episodes: int = typer.Option(24, min=1, help="Good trajectories to write."),
                corrupt: int = typer.Option(0, min=0, help="Extra deliberately broken trajectories (truncated pickle, "
                                                          "missing image, no instruction, length mismatch, ...)."),
                seed: int = typer.Option(0, help="Same seed, same files."),
                force: bool = typer.Option(False, help="Rewrite even if the same fixture is already there.")):
    """Write a small synthetic dataset in the exact raw BridgeData V2 layout (rendered tabletop images)."""
    from harness.data.fixture import write_fixture

    try:
        info = write_fixture(out, episodes, corrupt, seed, force=force)
    except (FileExistsError, ValueError) as e:
        fail(str(e), 2)
    typer.echo(f"fixture: {info['episodes']} trajectories + {info['corrupt']} corrupt under {out}/{info['root']} "
               f"(ground truth in {out}/fixture.json)")


@app.command("build")
def build_cmd(source: Path = typer.Option(..., help="Raw BridgeData V2 directory (any ancestor of traj_group*/)."),
              out: Path = typer.Option(None, help="D_lan directory [default: results/data/dlan]."),
              annotator: str = typer.Option(None, help="rules (offline, default of the spec) or gemini "
                                                        "(needs GEMINI_API_KEY and the gemini extra)."),
              spec: str = typer.Option("bridge", help="Data spec under experiments/data/."),
              tokenizer: Path = typer.Option(None, help="Hugging Face tokenizer directory for the card's token "
                                                        "counts (default: a word/punctuation proxy)."),
              limit: int = typer.Option(None, min=1, help="Stop after about this many new/changed episodes (whole "
                                                          "trajectory groups), e.g. to check Gemini cost on a sample; "
                                                          "nothing else is touched."),
              retry_fallbacks: bool = typer.Option(False, help="Re-ask Gemini for episodes that fell back to rules "
                                                               "(API errors, timeouts, answers that failed "
                                                               "validation: none of them is cached)."),
              force: bool = typer.Option(False, help="Allow --out to be rebuilt from a different --source."),
              progress: bool = typer.Option(True, help="Show the progress bar.")):
    """Build D_lan incrementally: only new or changed episodes are processed; a killed build resumes.

    Corrupt episodes are skipped and listed in the dataset card (<out>/README.md, <out>/skipped.csv).
    """
    from harness.data.build import BuildConfig, Builder, BuildError
    from harness.data.dlan import default_dlan_dir
    from harness.data.gemini import GeminiSetupError

    out = out or default_dlan_dir()
    if annotator not in (None, "rules", "gemini"):
        fail(f"--annotator {annotator!r}: expected rules or gemini", 2)
    try:
        config = BuildConfig.load(spec, annotator)
        builder = Builder(source, out, config, progress=progress, retry_fallbacks=retry_fallbacks, force=force)
        report = builder.run(limit=limit, tokenizer=tokenizer)
    except (SpecError, BuildError, GeminiSetupError) as e:
        fail(str(e), 2)
    except RuntimeError as e:  # a tokenizer that cannot be loaded
        fail(str(e), 2)
    except KeyboardInterrupt:
        fail(f"interrupted; finished groups are kept: run the same command again to resume ({out})", 130)
    typer.echo(f"D_lan: {report.found} episodes found, {report.processed} processed, {report.reused} unchanged, "
               f"{report.skipped} skipped, {report.removed} removed in {report.elapsed_s:.1f} s "
               f"({report.episodes_per_s:.1f} episodes/s processed)")
    if report.usage:
        u = report.usage
        typer.echo(f"gemini: {u['calls']} calls, {u['cache_hits']} cached, {u['api_errors']} failed, "
                   f"fallbacks {u['fallbacks'] or 'none'}, plan disagreements {u['plan_disagreements']}, "
                   f"{u['prompt_tokens']}+{u['output_tokens']} tokens, "
                   f"${u['cost_usd']:.2f}")
    typer.echo(f"card: {report.card}")


@app.command("inspect")
def inspect_cmd(dlan: Path = typer.Argument(None, help="D_lan directory [default: results/data/dlan]."),
                episode: str = typer.Option("0", help="Episode: its index among usable episodes, or part of its id."),
                stages: str = typer.Option("subtasks,plan,action", help="Comma-separated stages to print.")):
    """Print one episode's rows (prompt and target per stage) and the dataset's counts."""
    from harness.data.dlan import default_dlan_dir, read_examples
    from harness.data.episodes import EpisodeSelectionError, select_episode, usable_episodes

    dlan = dlan or default_dlan_dir()
    usable = usable_episodes(dlan)
    if not usable:
        fail(f"{dlan}: no usable episodes recorded (build one with `vlm2vla data build`)", 2)
    try:
        eid = select_episode(usable, episode)
    except EpisodeSelectionError as e:
        fail(f"--episode {episode!r}: {e}", 2)
    wanted = {s.strip() for s in stages.split(",") if s.strip()}
    typer.echo(f"{len(usable)} usable episodes; showing {eid}")
    for ex in read_examples(dlan):
        if ex.episode_id == eid and ex.stage in wanted:
            typer.echo(f"--- {ex.stage} {ex.step_index} [{ex.split}, {ex.annotator}] images={ex.images}")
            typer.echo(f"prompt: {ex.prompt}")
            typer.echo(f"target: {ex.target}")
            if ex.action_digits:
                typer.echo(f"least-likely digits: {ex.action_digits}")


@app.command("bench")
def bench_cmd(source: Path = typer.Option(None, help="Raw dataset [default: a fresh fixture in a temp directory]."),
              episodes: int = typer.Option(48, min=1, help="Fixture size when no --source is given."),
              spec: str = typer.Option("bridge", help="Data spec under experiments/data/."),
              json_out: Path = typer.Option(None, "--json", help="Also write the numbers to this JSON file.")):
    """Episodes/s of each pipeline stage and the full build, against a naive reader that decodes every frame."""
    import tempfile

    from harness.data.bench import run_bench
    from harness.data.fixture import write_fixture

    with tempfile.TemporaryDirectory(prefix="dlan-fixture-") as tmp:
        if source is None:
            source = Path(tmp) / "fixture"
            write_fixture(source, episodes, 0, seed=0)
        result = run_bench(source, spec)
    typer.echo(result.report())
    if json_out:
        result.write_json(json_out)
