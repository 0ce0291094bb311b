"""A trial session's backend and policies for every robot kind: the simulator's oracle only on the simulator."""

from __future__ import annotations

import pytest

from harness.policy.scripted import ScriptedPolicy
from harness.robot.backends.dry_run import DryRunBackend
from harness.robot.console import OperatorConsole
from harness.robot.factory import SetupError
from harness.sim.backend import SimBackend
from harness.sim.factory import make_backend, make_policy, wire_session
from harness.sim.oracle import OraclePolicy
from harness.specs import load_model, load_robot, load_task


def test_each_robot_kind_gets_its_backend():
    task = load_task("pickup")
    assert isinstance(make_backend(load_robot("sim"), task), SimBackend)
    assert isinstance(make_backend(load_robot("dry-run"), task), DryRunBackend)


def test_the_oracle_needs_the_simulated_scene():
    task, oracle = load_task("pickup"), load_model("oracle")
    assert isinstance(make_policy(oracle, make_backend(load_robot("sim"), task)), OraclePolicy)
    with pytest.raises(SetupError, match="oracle: it runs only with --robot sim"):
        make_policy(oracle, make_backend(load_robot("dry-run"), task))


def test_wire_session_builds_every_part_before_anything_moves():
    parts = wire_session(load_robot("dry-run"), load_task("pickup"), [load_model("scripted")], "none",
                         OperatorConsole())
    assert isinstance(parts.backend, DryRunBackend) and not parts.backend.connected
    assert isinstance(parts.current.policy_for("scripted"), ScriptedPolicy)
    with pytest.raises(SetupError, match="scripted has none"):
        wire_session(load_robot("dry-run"), load_task("pickup"), [load_model("scripted")], "self", OperatorConsole())
