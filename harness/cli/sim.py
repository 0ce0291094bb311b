"""`vlm2vla sim ...`: the simulated WidowX 250S - oracle success rates, a rendered frame, the speed benchmark.

Model-driven trials on the simulator go through `vlm2vla robot-trials --robot sim`; these commands check the
simulator itself. mujoco is imported only inside the commands (the `sim` extra).
"""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.common import fail
from harness.specs import SpecError, list_specs, load_robot, load_task

app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                  help="Simulated WidowX 250S (MuJoCo, CPU; MUJOCO_GL=egl): scripted-oracle success rates per task, "
                       "rendered frames, speed benchmark.")

ROBOT_HELP = "Robot spec (experiments/robots/) with backend: sim."


def _robot(name: str):
    try:
        robot = load_robot(name)
    except SpecError as e:
        fail(str(e), 2)
    if robot.backend != "sim":
        fail(f"robot spec {name!r} has backend {robot.backend!r}; the sim commands need one with backend: sim", 2)
    return robot


def _tasks(name: str):
    names = [r.name for r in list_specs("tasks")] if name == "all" else [name]
    try:
        return [load_task(n) for n in names]
    except SpecError as e:
        fail(str(e), 2)


@app.command("oracle")
def oracle_cmd(task: str = typer.Option("all", help="Task spec name, or 'all' for every task under experiments/tasks/."),
               trials: int = typer.Option(20, min=1, help="Seeded trials per task."),
               seed: int = typer.Option(0, help="Scene seed (combined with each task's schedule_seed)."),
               robot: str = typer.Option("sim", help=ROBOT_HELP),
               out: Path = typer.Option(None, help="Output directory [default: results/sim/oracle/seed<SEED>]: "
                                                   "<task>/trials.jsonl (resumed if present), GIFs, summary.json."),
               gif: bool = typer.Option(True, "--gif/--no-gif", help="Save every trial's frames as a GIF."),
               require: float = typer.Option(None, help="Exit 1 if any task's success rate is below this (0-1).")):
    """Run the scripted oracle on seeded scenes and print the success rate per task."""
    from tqdm import tqdm

    from harness.sim import summary
    from harness.sim.rollout import oracle_trials

    spec = _robot(robot)
    out = out or summary.default_out(seed)
    rows = []
    for t in _tasks(task):
        with tqdm(total=trials, desc=t.name, unit="trial", leave=False) as bar:
            outcomes = oracle_trials(spec, t, trials, seed=seed, out_dir=out / t.name, gif=gif,
                                     progress=lambda _o, bar=bar: bar.update())
        rows.append(summary.TaskSummary.of(t.name, outcomes))
    typer.echo(summary.table(rows))
    summary.write_summary(out, rows)
    typer.echo(f"trial logs and GIFs under {out}")
    failing = summary.below(rows, require) if require is not None else []
    if failing:
        fail(f"success rate below {require:.0%} on " + ", ".join(failing))


@app.command("record")
def record_cmd(task: str = typer.Option("pickup", help="Task spec name (success_check pickup or pick_place): its "
                                                    "table area and distractor count; targets are the training "
                                                    "objects (harness.sim.record.TRAINING_OBJECTS)."),
               episodes: int = typer.Option(100, min=1, help="Oracle episodes to record."),
               out: Path = typer.Option(..., help="Root of the raw BridgeData V2 tree (<out>/<task>/seed<S>/<date>/raw/"
                                                  "traj_group*/traj*/); `vlm2vla data build --source <out>` reads it."),
               seed: int = typer.Option(0, help="Recording seed: scenes come from schedule seed 1000000 + SEED, never "
                                                "a task's evaluation schedule_seed."),
               robot: str = typer.Option("sim", help=ROBOT_HELP)):
    """Record scripted-oracle demonstrations as raw BridgeData V2 trajectories (5 Hz; resumes a killed run)."""
    from tqdm import tqdm

    from harness.sim.record import record

    spec, (t,) = _robot(robot), _tasks(task)
    with tqdm(total=episodes, desc=f"record {t.name}", unit="episode") as bar:
        try:
            manifest = record(spec, t, episodes, out, seed=seed, progress=lambda _r: bar.update(),
                              evaluation_tasks=_tasks("all"))
        except ValueError as e:
            fail(str(e), 2)
    typer.echo(f"{manifest['recorded']}/{manifest['episodes']} episodes of {t.name} under {out} "
               f"(oracle failures not written: {manifest['failed'] or 'none'})")


@app.command("render")
def render_cmd(task: str = typer.Option("pickup", help="Task spec name."),
               trial: int = typer.Option(0, min=0, help="Trial index of the seeded scene."),
               seed: int = typer.Option(0, help="Scene seed."),
               robot: str = typer.Option("sim", help=ROBOT_HELP),
               out: Path = typer.Option(Path("sim_frame.png"), help="PNG file to write.")):
    """Render the first frame of a trial's scene (the arm at its start pose) to a PNG."""
    from PIL import Image

    from harness.sim.backend import SimBackend
    from harness.sim.scenes import draw_scene

    spec, (t,) = _robot(robot), _tasks(task)
    scene = draw_scene(t, trial, seed)
    with SimBackend(spec, t) as backend:
        image = backend.reset(scene).image
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(out)
    typer.echo(f"{out}: {image.shape[1]}x{image.shape[0]}; {scene.describe()}")


@app.command("bench")
def bench_cmd(task: str = typer.Option("pick-and-place", help="Task spec name."),
              frames: int = typer.Option(30, min=1, help="Frames rendered for the per-frame time."),
              trials: int = typer.Option(3, min=1, help="Oracle trials per loop variant (with and without rendering)."),
              robot: str = typer.Option("sim", help=ROBOT_HELP),
              out: Path = typer.Option(None, help="Also write the numbers as JSON here.")):
    """Measure render ms/frame and closed-loop cycles/s (with and without rendering) on this machine."""
    from harness.sim.bench import run_bench

    spec, (t,) = _robot(robot), _tasks(task)
    result = run_bench(spec, t, frames=frames, trials=trials)
    typer.echo(result.report())
    if out is not None:
        result.write_json(out)


@app.command("locate")
def locate_cmd(model: str = typer.Option(..., "--model", help="Model spec whose vision tower is probed."),
               raw: Path = typer.Option(..., "--raw", help="Episodes recorded by `vlm2vla sim record` (its --out)."),
               limit: int = typer.Option(None, min=10, help="Episodes read (default: all)."),
               min_scenes: int = typer.Option(50, min=10, help="Probe only objects in at least this many scenes.")):
    """How well a linear map of the model's pooled image tokens places each object on the table: ridge regression
    to its (x, y), cross-validated over the recorded scenes, beside the same probe on the image's pooled colours.

    A policy must reach within ~2 cm of its target; an image pathway from which no linear map places it within a
    few centimetres is a reason for a policy that never finds it (issue 20)."""
    from harness.models import ModelLoadError, load_model
    from harness.sim.locate import locate

    try:
        loaded = load_model(model)
        rows = locate(loaded, raw, limit=limit, min_scenes=min_scenes)
    except (SpecError, ModelLoadError, FileNotFoundError, ValueError) as e:
        fail(str(e), 2)
    tokens = loaded.base_model().config.mm_tokens_per_image
    typer.echo(f"{loaded.spec.name}: median error placing each object from its first frame (cm; {tokens} pooled "
               "image tokens; cross-validated ridge)")
    for features in ("tower", "pixels"):
        typer.echo(f"  {features:6s} " + ", ".join(f"{r.target} {r.median_error_cm:.1f}" for r in rows
                                                    if r.features == features))
    typer.echo("  spread " + ", ".join(f"{r.target} {r.spread_cm:.1f}" for r in rows if r.features == "tower")
               + "  (no idea where: the median distance from the mean position)")
    typer.echo("  scenes " + ", ".join(f"{r.target} {r.n}" for r in rows if r.features == "tower"))
