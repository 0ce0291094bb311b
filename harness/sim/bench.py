"""How fast the simulator runs on this machine: closed-loop cycles per second and render time per frame.

A measurement (`vlm2vla sim bench`), never an assertion. Three numbers from the same run and scene set:
- render ms/frame: offscreen frames from the third-person camera at the robot spec's resolution, against the naive
  baseline measured in the same run (MuJoCo's default 4x multisampling);
- oracle cycles/s with rendering (what a policy in the loop gets: physics + IK + codec + one frame per cycle) and
  without (physics + IK + codec alone); the ratio between them is the share rendering takes;
- real-time factor: simulated seconds per wall second of the physics.
"""

from __future__ import annotations

import os
import statistics
import time

from harness.records import BenchResult

VARIANTS = ("render, 4x multisampling", "render", "closed loop, rendering", "closed loop, physics")


def _loop(robot, task, trials: int, render: bool) -> tuple[int, int, float, float]:
    """(cycles, steps, wall seconds, simulated seconds) of the oracle over `trials` seeded scenes."""
    from harness.sim.backend import SimBackend
    from harness.sim.oracle import OraclePolicy
    from harness.sim.rollout import run_trial
    from harness.sim.scenes import draw_scene

    cycles = steps = 0
    wall = sim = 0.0
    with SimBackend(robot, task, render=render) as backend:
        for i in range(trials):
            scene = draw_scene(task, i)
            t0 = time.perf_counter()
            out = run_trial(backend, OraclePolicy(backend), scene, cycle_budget=task.cycle_budget,
                            max_step_m=robot.max_step_cm / 100)
            wall += time.perf_counter() - t0
            cycles, steps, sim = cycles + out.cycles, steps + out.steps, sim + float(backend.data.time)
    return cycles, steps, wall, sim


def _render_times(backend, frames: int) -> list[float]:
    backend.render()  # the first frame creates the GL context: not part of the per-frame cost
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        backend.render()
        times.append(1000 * (time.perf_counter() - t0))
    return times


def run_bench(robot, task, *, frames: int = 30, trials: int = 3) -> BenchResult:
    """Render time per frame against MuJoCo's default multisampling, and oracle cycles/s with and without frames."""
    from harness.sim import backend as sim_backend
    from harness.sim.mjcf import scene_xml
    from harness.sim.scenes import draw_scene

    scene = draw_scene(task, 0)
    with sim_backend.SimBackend(robot, task) as backend:
        backend.reset(scene)
        times = _render_times(backend, frames)
        # Baseline: the same scene and state compiled with MuJoCo's default multisampling.
        mj = backend._mj
        placements = backend._placements(scene)
        baseline_model = mj.MjModel.from_xml_string(
            scene_xml(placements, robot.camera.width, robot.camera.height, offsamples=4))
        baseline_data = mj.MjData(baseline_model)
        mj.mj_forward(baseline_model, baseline_data)
        with mj.Renderer(baseline_model, height=robot.camera.height, width=robot.camera.width) as renderer:
            base = []
            for i in range(frames + 1):
                t0 = time.perf_counter()
                renderer.update_scene(baseline_data, camera=sim_backend.CAMERA_NAME)
                renderer.render()
                if i:  # the first frame creates the GL context
                    base.append(1000 * (time.perf_counter() - t0))
    c_r, _, wall_r, _ = _loop(robot, task, trials, render=True)
    c_p, steps_p, wall_p, sim_p = _loop(robot, task, trials, render=False)
    with_render, physics = c_r / wall_r, c_p / wall_p
    gl, width, height = os.environ.get("MUJOCO_GL", ""), robot.camera.width, robot.camera.height
    mean, median, baseline = statistics.fmean(times), statistics.median(times), statistics.median(base)
    m = {"task": task.name, "cores": os.cpu_count() or 0, "gl": gl, "width": width, "height": height,
         "render_ms_mean": round(mean, 2), "render_ms_median": round(median, 2),
         "render_ms_baseline": round(baseline, 2),  # median with MuJoCo's default offscreen multisampling
         "frames": frames, "cycles_per_s_render": round(with_render, 2), "cycles_per_s_physics": round(physics, 2),
         "steps_per_s_physics": round(steps_p / wall_p, 1),  # executed motion commands per second, no rendering
         "real_time_factor": round(sim_p / wall_p, 2),  # simulated seconds per wall second, no rendering
         "cycles": c_r + c_p}
    ratios = {"render_speedup": round(baseline / median, 2),  # baseline / ours (median)
              "render_share": round(1 - with_render / physics, 3)}  # 1 - (cycles/s with render) / (without)
    table = (
        f"sim bench ({m['task']}, {m['cores']} cores, MUJOCO_GL={gl or 'unset'}, {width}x{height})",
        f"  render:                 {m['render_ms_mean']:.1f} ms/frame mean, {m['render_ms_median']:.1f} median "
        f"({frames} frames); MuJoCo's default 4x multisampling {m['render_ms_baseline']:.1f} ms median "
        f"(x{ratios['render_speedup']:.2f})",
        f"  closed loop, rendering: {m['cycles_per_s_render']:.2f} cycles/s",
        f"  closed loop, physics:   {m['cycles_per_s_physics']:.2f} cycles/s, {m['steps_per_s_physics']:.0f} steps/s, "
        f"real-time factor {m['real_time_factor']:.1f}x",
        f"  rendering takes {100 * ratios['render_share']:.0f}% of a rendered cycle")
    return BenchResult("sim", VARIANTS, m, ratios=ratios, table=table)
