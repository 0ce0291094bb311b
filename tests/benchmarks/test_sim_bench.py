"""Simulator speed (pytest-benchmark; `make bench`): a frame, a motion step. Measurements, not assertions on time.

The closed-loop numbers (cycles/s with and without rendering, their ratio) come from `vlm2vla sim bench`."""

from __future__ import annotations

import pytest

from harness.robot.backend import MotionCommand, SceneSetup
from harness.specs import load_robot, load_task

pytestmark = pytest.mark.benchmark


@pytest.fixture(scope="module")
def backend():
    from harness.sim.backend import SimBackend

    with SimBackend(load_robot("sim"), load_task("pick-and-place")) as b:
        b.reset(SceneSetup("pick-and-place", 0, "put the carrot in the pot", "en", "carrot", "pot",
                           {"carrot": (0.25, 0.08), "pot": (0.33, -0.08), "corn": (0.38, 0.1)}, ["corn"]))
        b.render()
        yield b


def test_render_frame_640x480(backend, benchmark):
    benchmark(backend.render)


def test_motion_step_2cm(backend, benchmark):
    sign = [1.0]

    def step():
        sign[0] = -sign[0]
        backend.move(MotionCommand(0.02 * sign[0], 0.0, 0.0))

    benchmark(step)
