"""`vlm2vla sim ...`: the simulated WidowX 250S - oracle success rates, a rendered frame, the speed benchmark.

Model-driven trials on the simulator go through `vlm2vla robot-trials --robot sim`; these commands check the
simulator itself. mujoco is imported only inside the commands (the `sim` extra).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harness.cli.common import fail
from harness.paths import results_dir
from harness.records.atomic import atomic_write_text
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

    from harness.sim.rollout import oracle_trials

    spec = _robot(robot)
    out = out or results_dir() / "sim" / "oracle" / f"seed{seed}"
    rows = []
    for t in _tasks(task):
        with tqdm(total=trials, desc=t.name, unit="trial", leave=False) as bar:
            outcomes = oracle_trials(spec, t, trials, seed=seed, out_dir=out / t.name, gif=gif,
                                     progress=lambda _o, bar=bar: bar.update())
        ok = sum(o.success for o in outcomes)
        rows.append({"task": t.name, "trials": len(outcomes), "successes": ok, "rate": ok / len(outcomes),
                     "mean_cycles": sum(o.cycles for o in outcomes) / len(outcomes),
                     "ik_failures": sum(o.ik_failures for o in outcomes),
                     "failed_trials": [o.trial_index for o in outcomes if not o.success]})
    typer.echo(f"{'task':<22}{'success':>10}{'rate':>8}{'cycles':>8}  failed trials")
    for r in rows:
        typer.echo(f"{r['task']:<22}{r['successes']:>5}/{r['trials']:<4}{100 * r['rate']:>7.0f}%{r['mean_cycles']:>8.1f}"
                   f"  {r['failed_trials'] or '-'}")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.json", json.dumps(rows, indent=2) + "\n")
    typer.echo(f"trial logs and GIFs under {out}")
    if require is not None and any(r["rate"] < require for r in rows):
        fail(f"success rate below {require:.0%} on " + ", ".join(r["task"] for r in rows if r["rate"] < require))


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
    b = run_bench(spec, t, frames=frames, trials=trials)
    typer.echo(f"sim bench ({b.task}, {b.cores} cores, MUJOCO_GL={b.gl or 'unset'}, {b.width}x{b.height})")
    typer.echo(f"  render:                 {b.render_ms_mean:.1f} ms/frame mean, {b.render_ms_median:.1f} median "
               f"({b.frames} frames); MuJoCo's default 4x multisampling {b.render_ms_baseline:.1f} ms median "
               f"(x{b.render_speedup:.2f})")
    typer.echo(f"  closed loop, rendering: {b.cycles_per_s_render:.2f} cycles/s")
    typer.echo(f"  closed loop, physics:   {b.cycles_per_s_physics:.2f} cycles/s, {b.steps_per_s_physics:.0f} steps/s, "
               f"real-time factor {b.real_time_factor:.1f}x")
    typer.echo(f"  rendering takes {100 * b.render_share:.0f}% of a rendered cycle")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(b.as_dict(), indent=2) + "\n")
