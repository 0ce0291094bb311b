"""A config per robot kind: the loader builds the class a robot spec's `backend` names, and each kind's keys stay
with that kind (a WidowX-only key in a sim config is an error naming the file and the allowed keys)."""

from __future__ import annotations

import dataclasses

import pytest

from harness.robot.backends import make_backend
from harness.robot.backends.dry_run import DryRunBackend
from harness.specs import SpecError, load, load_robot, validate_all
from harness.specs.base import SpecValueError
from harness.specs.robot import DryRunConfig, RobotSpec, SimConfig, WidowXConfig


def test_each_robot_spec_loads_into_its_kinds_config():
    widowx, sim, dry = load_robot("widowx"), load_robot("sim"), load_robot("dry-run")
    assert (type(widowx), type(sim), type(dry)) == (WidowXConfig, SimConfig, DryRunConfig)
    assert widowx.ros_version == "auto" and widowx.start_pitch == pytest.approx(1.5707963267948966)
    assert not any(f.name == "ros_version" for f in dataclasses.fields(sim))
    # the shared part is the same for every kind: the envelope the sim and the real arm both enforce
    assert sim.workspace == widowx.workspace == dry.workspace and sim.max_step_cm == widowx.max_step_cm


def test_a_spec_without_backend_is_a_dry_run(experiments_copy):
    (experiments_copy / "robots" / "bare.yaml").write_text("description: nothing set\n")
    assert type(load_robot("bare")) is DryRunConfig


@pytest.mark.parametrize(
    "body, message",
    [
        ("backend: sim\nros_version: '2'\n", "unknown key 'ros_version'; allowed keys: name, backend"),
        ("backend: dry-run\nstart_pitch: 0.0\n", "unknown key 'start_pitch'"),
        ("backend: sim\ncamera: {kind: realsense}\n", "key 'camera.kind': value 'realsense' is not allowed"),
        ("backend: widowx\nros_version: '3'\n", "key 'ros_version': value '3' is not allowed"),
        ("backend: ur5\n", "key 'backend': value 'ur5' is not allowed; expected one of 'widowx', 'sim', 'dry-run'"),
    ],
)
def test_keys_of_another_kind_are_refused(experiments_copy, body, message):
    path = experiments_copy / "robots" / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SpecError) as info:
        load("robots/bad")
    assert str(path) in str(info.value) and message in str(info.value)
    assert any(str(path) in e for e in validate_all()[1])


def test_the_shared_part_alone_is_not_a_robot():
    with pytest.raises(SpecValueError, match="key 'backend'"):
        RobotSpec()
    with pytest.raises(SpecValueError, match="key 'backend'"):
        SimConfig(backend="widowx")


def test_make_backend_builds_from_the_kinds_config():
    assert isinstance(make_backend(load_robot("dry-run")), DryRunBackend)
    with pytest.raises(ValueError, match="harness.sim"):
        make_backend(load_robot("sim"))
