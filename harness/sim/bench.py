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
from dataclasses import asdict, dataclass


@dataclass
class SimBench:
    task: str
    cores: int
    gl: str
    width: int
    height: int
    render_ms_mean: float
    render_ms_median: float
    render_ms_baseline: float  # median with MuJoCo's default offscreen multisampling (4 samples)
    render_speedup: float  # baseline / ours (median)
    frames: int
    cycles_per_s_render: float
    cycles_per_s_physics: float
    render_share: float  # 1 - (cycles/s with render) / (cycles/s without)
    steps_per_s_physics: float  # executed motion commands per second, without rendering
    real_time_factor: float  # simulated seconds per wall second (without rendering)
    cycles: int

    def as_dict(self) -> dict:
        return asdict(self)


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


def run_bench(robot, task, *, frames: int = 30, trials: int = 3) -> SimBench:
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
    return SimBench(task=task.name, cores=os.cpu_count() or 0, gl=os.environ.get("MUJOCO_GL", ""),
                    width=robot.camera.width, height=robot.camera.height,
                    render_ms_mean=round(statistics.fmean(times), 2), render_ms_median=round(statistics.median(times), 2),
                    render_ms_baseline=round(statistics.median(base), 2),
                    render_speedup=round(statistics.median(base) / statistics.median(times), 2), frames=frames, cycles_per_s_render=round(with_render, 2), cycles_per_s_physics=round(physics, 2),
                    render_share=round(1 - with_render / physics, 3), steps_per_s_physics=round(steps_p / wall_p, 1),
                    real_time_factor=round(sim_p / wall_p, 2), cycles=c_r + c_p)
