"""The baselines execute the rotation they predict: the envelope bounds it per step and axis (clip or reject), the
runner splits and passes it, the WidowX sends it through interbotix's relative move, the dry run logs and ignores it."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import pytest

from harness.actions.types import ActionStep, bridge_step
from harness.policy.base import CycleOutput, Policy
from harness.policy.validators import NoneValidator
from harness.robot.backend import MotionCommand, SceneSetup
from harness.robot.backends.dry_run import DryRunBackend
from harness.robot.backends.widowx import WidowXBackend
from harness.robot.envelope import Envelope, split_step
from harness.robot.runner import run_trial
from harness.specs import load_robot, load_task
from tests.robot.fakes import FakeCamera, FakeInterbotix, RecordingBackend

ROBOT = load_robot("dry-run")
REJECT = dataclasses.replace(ROBOT, out_of_envelope="reject")
START = (0.30, -0.09, 0.26)
SCENE = SceneSetup("pickup", 0, "pick up the carrot", "en", "carrot")


def test_every_robot_config_bounds_rotation_as_bridge_does():
    for name in ("dry-run", "sim", "widowx"):
        assert load_robot(name).max_rotation_rad == 0.25


def test_rotation_within_the_limit_passes_unchanged():
    chk = Envelope(ROBOT).check(START, 0.01, 0.0, 0.0, 1.0, (0.1, -0.2, 0.05))
    assert chk.verdict == "ok" and chk.command == MotionCommand(0.01, 0.0, 0.0, 1.0, 0.1, -0.2, 0.05)
    assert chk.to_dict()["command_rotation"] == [0.1, -0.2, 0.05]


def test_rotation_beyond_the_limit_is_clipped_per_axis_or_rejected():
    chk = Envelope(ROBOT).check(START, 0.0, 0.0, 0.0, None, (0.6, -0.1, -1.0))
    assert chk.verdict == "clipped" and chk.command.rotation == (0.25, -0.1, -0.25)
    assert "droll 0.600 rad" in chk.reasons[0] and "dyaw -1.000 rad" in chk.reasons[0]
    chk = Envelope(REJECT).check(START, 0.0, 0.0, 0.0, None, (0.0, 0.3, 0.0))
    assert chk.verdict == "rejected" and chk.command is None and "dpitch 0.300 rad" in chk.reasons[0]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_rotation_is_rejected_in_both_modes(bad):
    for spec in (ROBOT, REJECT):
        assert Envelope(spec).check(START, 0.0, 0.0, 0.0, None, (0.0, bad, 0.0)).verdict == "rejected"


def test_admits_refuses_a_command_turning_too_far():
    env = Envelope(ROBOT)
    assert env.admits(START, MotionCommand(0.0, 0.0, 0.0, None, 0.25, -0.25, 0.25))
    assert not env.admits(START, MotionCommand(0.0, 0.0, 0.0, None, 0.0, 0.0, 0.3))


def test_split_step_divides_a_long_rotation_with_the_translation():
    parts = split_step(ActionStep(0.02, 0.0, 0.0, 0.0, rotation=(0.0, 0.0, 0.6)), 0.05, 0.25)
    assert len(parts) == 3 and all(p.rotation == pytest.approx((0.0, 0.0, 0.2)) for p in parts)
    assert sum(p.dx for p in parts) == pytest.approx(0.02) and [p.gripper for p in parts] == [0.0, None, None]
    assert split_step(ActionStep(0.01, 0.0, 0.0, rotation=(0.1, 0.0, 0.0)), 0.05, 0.25)[0].rotation == (0.1, 0.0, 0.0)


def test_bridge_step_keeps_the_rotation():
    step = bridge_step([0.01, -0.02, 0.003, 0.1, 0.0, -0.1, 0.97])
    assert step.translation == (0.01, -0.02, 0.003) and step.rotation == (0.1, 0.0, -0.1) and step.gripper == 1.0


class RotatingPolicy(Policy):
    """A flat policy whose one step per cycle turns (as OpenVLA's 7-DoF actions do)."""

    name = "rotating"

    def __init__(self, steps: list[ActionStep]):
        self.steps, self.i = steps, 0

    def start(self, instruction, observation, out_of_distribution=False):
        self.i = 0
        return [instruction]

    def act(self, observation):
        return CycleOutput("turn", "", "[...]", [self.steps[self.i]], None, {"action": "[...]"})

    def advance(self, decision):
        self.i += 1

    @property
    def current_subtask(self):
        return "turn" if self.i < len(self.steps) else None


def test_the_runner_sends_bounded_rotations_and_logs_them(tmp_path):
    steps = [ActionStep(0.0, 0.0, 0.0, rotation=(0.0, 0.0, 0.2)),  # a pure rotation still moves the arm
             ActionStep(0.01, 0.0, 0.0, 1.0, rotation=(0.7, 0.0, 0.0))]  # split in 3 sub-steps of 0.233 rad
    backend, env = RecordingBackend(), Envelope(ROBOT)
    result = run_trial(RotatingPolicy(steps), backend, NoneValidator(), env, load_task("pickup"), SCENE,
                       tmp_path, START)
    commands = [c for _, c in backend.calls]
    np.testing.assert_allclose([c.rotation for c in commands], [(0, 0, 0.2)] + [(0.7 / 3, 0, 0)] * 3)
    assert all(env.admits(p, c) for p, c in backend.calls) and result.envelope_clipped == 0
    lines = (tmp_path / "cycles.jsonl").read_text().splitlines()
    assert '"requested_rotation": [0.0, 0.0, 0.2]' in lines[1]


def test_widowx_sends_the_rotation_through_the_relative_move(monkeypatch):
    fake = FakeInterbotix("2").install(monkeypatch)
    backend = WidowXBackend(load_robot("widowx"), camera=FakeCamera())
    sent = []
    with backend:
        backend.reset(SCENE)
        arm = fake.bots[0].arm
        original = arm.set_ee_cartesian_trajectory
        monkeypatch.setattr(arm, "set_ee_cartesian_trajectory", lambda **kw: sent.append(kw) or original(**kw))
        before = arm.get_ee_pose_command()
        assert backend.move(MotionCommand(0.0, 0.0, 0.0, None, 0.0, -0.2, 0.0)).executed
        after = arm.get_ee_pose_command()
        assert backend.move(MotionCommand(0.01, 0.0, 0.0)).executed
    assert sent[0]["pitch"] == -0.2 and (sent[0]["roll"], sent[0]["yaw"]) == (0.0, 0.0)
    assert "pitch" not in sent[1]  # translation-only steps (VLM2VLA) call interbotix as before
    assert not np.allclose(before[:3, :3], after[:3, :3])  # the fake arm turned


def test_dry_run_logs_that_it_ignores_rotation(caplog):
    backend = DryRunBackend(ROBOT)
    with caplog.at_level(logging.INFO, logger="harness.robot.backends.dry_run"), backend:
        backend.reset(SCENE)
        backend.move(MotionCommand(0.01, 0.0, 0.0, None, 0.1, 0.0, 0.0))
    assert backend.ee == pytest.approx((0.31, -0.09, 0.26)) and "rotation (0.1, 0.0, 0.0) rad ignored" in caplog.text
