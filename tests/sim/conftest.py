"""Fixtures for the simulator tests: specs with a small camera (fast rendering) and a backend factory."""

from __future__ import annotations

import dataclasses

import pytest

from harness.robot.backend import SceneSetup
from harness.specs import CameraSpec, load_robot, load_task


@pytest.fixture(scope="session")
def robot():
    """The shipped sim robot spec with a 96x72 camera: the same arm and envelope, cheaper frames."""
    spec = load_robot("sim")
    return dataclasses.replace(spec, camera=CameraSpec(96, 72, spec.camera.device))


@pytest.fixture
def backend_for(robot):
    """backend_for(task_name, render=False) -> a connected SimBackend, closed after the test."""
    from harness.sim.backend import SimBackend

    made = []

    def make(task: str = "pickup", render: bool = False):
        b = SimBackend(robot, load_task(task), render=render)
        b.connect()
        made.append(b)
        return b

    yield make
    for b in made:
        b.disconnect()


def scene(task: str, positions: dict, target: str = "carrot", destination: str | None = None,
          distractors: list[str] | None = None) -> SceneSetup:
    return SceneSetup(task=task, trial_index=0, instruction="test", language="en", target=target,
                      destination=destination, positions=positions, distractors=distractors or [])
