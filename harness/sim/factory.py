"""Builds a trial session's backend, policies and validator for any robot kind, the simulator included.

It lives here because the simulator sits above the robot layer: this is the lowest layer that sees the hardware
backends (`harness.robot.backends`), the simulated arm and its oracle. mujoco is still imported only when the
simulated arm connects, so a session on the real arm or the dry run never needs the `sim` extra.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from harness.policy.base import Policy, Validator
from harness.robot.backend import RobotBackend, SceneSetup
from harness.robot.backends import make_backend as make_hardware_backend
from harness.robot.console import OperatorConsole
from harness.robot.factory import (
    CurrentPolicy,
    SetupError,
    check_policy_models,
    model_policy,
    session_validator,
)
from harness.sim.backend import SimBackend
from harness.sim.oracle import OraclePolicy
from harness.specs.model import ModelSpec
from harness.specs.robot import RobotSpec, SimConfig
from harness.specs.task import TaskSpec

log = logging.getLogger(__name__)
REFERENCE_ROBOT = "sim"  # the robot spec whose camera renders the reference image of a scene


def make_backend(robot: RobotSpec, task: TaskSpec) -> RobotBackend:
    """The simulated arm for `backend: sim` (it sets up `task`'s scenes), else the hardware or dry-run backend."""
    if robot.backend == "sim":
        return SimBackend(robot, task)
    return make_hardware_backend(robot)


def make_policy(spec: ModelSpec, backend: RobotBackend) -> Policy:
    """The oracle reads the simulated scene, so it needs the simulated backend; every other spec is a model policy
    (a `type: remote` / `ws://` one connects to its server: `harness.robot.factory.model_policy`)."""
    if spec.type == "oracle":
        if not isinstance(backend, SimBackend):
            raise SetupError(f"model {spec.name!r} is the simulator's oracle: it runs only with --robot sim")
        return OraclePolicy(backend)
    return model_policy(spec)


@dataclass
class SessionParts:
    backend: RobotBackend
    current: CurrentPolicy  # its `policy_for` is the session's policy factory
    validator: Validator


def wire_session(robot: RobotSpec, task: TaskSpec, models: Sequence[ModelSpec], validator: str,
                 console: OperatorConsole, *, check_models: bool = True) -> SessionParts:
    """Every part a `Session` runs on, built before anything moves; raises `SetupError` naming what to change.

    A validator that needs a key or an extra is built first, so it fails before any model loads; `self` is built
    last, because it asks the policies' own models.
    """
    current = CurrentPolicy()
    judge = None if validator == "self" else session_validator(validator, console, current)
    backend = make_backend(robot, task)
    current.policies = {s.name: make_policy(s, backend) for s in models}
    if check_models:  # before the session starts: a model that no longer answers as trained is refused
        for note in check_policy_models(current.policies):
            console.say(f"   {note}")
    return SessionParts(backend, current, judge or session_validator(validator, console, current))


def reference_renderer(task: TaskSpec, sim_robot: SimConfig | None = None) -> Callable[[SceneSetup], np.ndarray]:
    """The scene card's reference image: the simulator's render of the same schedule entry (its own arm and
    camera, apart from the session's backend). mujoco is imported at the first render, so wiring it costs
    nothing where no image is asked for; a failure there is the session's to report."""
    state: dict[str, SimBackend] = {}

    def render(scene: SceneSetup) -> np.ndarray:
        if "sim" not in state:
            from harness.specs import load_robot

            robot = sim_robot if sim_robot is not None else load_robot(REFERENCE_ROBOT)
            if not isinstance(robot, SimConfig):
                raise ValueError(f"robot spec {robot.name!r} is not a simulator config; the reference image needs one")
            state["sim"] = SimBackend(robot, task)
        sim = state["sim"]
        sim.reset(scene)
        return sim.render()

    return render
