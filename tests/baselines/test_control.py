"""Each baseline runs with its own evaluation's control settings from its spec: OpenVLA's Bridge script 5 Hz,
non-blocking, 60 steps; ECoT's 2 Hz, blocking, 600 steps. The runner uses the step budget (instead of the task's)
and the rate, and logs them with the trial."""

from __future__ import annotations

import json

import pytest

from harness.actions.types import ActionStep
from harness.policy.validators import NoneValidator
from harness.records.outcomes import StopReason
from harness.robot.backend import SceneSetup
from harness.robot.envelope import Envelope
from harness.robot.runner import run_trial
from harness.specs import load_model, load_robot, load_task
from harness.specs.base import SpecValueError
from harness.specs.model import ControlSpec
from tests.robot.test_envelope_rotation import RotatingPolicy

SCENE = SceneSetup("pickup", 0, "pick up the carrot", "en", "carrot")


def test_the_baselines_specs_carry_their_own_evaluations_settings():
    assert load_model("openvla").control == ControlSpec(hz=5.0, blocking=False, max_steps=60)
    assert load_model("ecot").control == ControlSpec(hz=2.0, blocking=True, max_steps=600)
    assert load_model("vlm2vla").control == ControlSpec()  # the task's budget, no pacing


@pytest.mark.parametrize("bad", [{"hz": 0}, {"max_steps": 0}])
def test_nonsense_control_is_refused(bad):
    with pytest.raises(SpecValueError, match="control"):
        ControlSpec(**bad)


def test_the_runner_uses_the_policys_step_budget_and_rate(tmp_path):
    task = load_task("pickup")
    policy = RotatingPolicy([ActionStep(0.001, 0.0, 0.0)] * (task.cycle_budget + 5))
    policy.control = ControlSpec(hz=20.0, blocking=False, max_steps=task.cycle_budget + 3)
    from tests.robot.fakes import RecordingBackend

    result = run_trial(policy, RecordingBackend(), NoneValidator(), Envelope(load_robot("dry-run")), task, SCENE,
                       tmp_path, (0.3, -0.09, 0.26))
    assert result.cycles == task.cycle_budget + 3 and result.stop_reason == StopReason.CYCLE_BUDGET
    assert result.duration_s >= (result.cycles - 1) / 20.0 * 0.95  # started at most 20 cycles a second
    start = json.loads((tmp_path / "cycles.jsonl").read_text().splitlines()[0])
    assert start["control"] == {"hz": 20.0, "blocking": False, "max_steps": task.cycle_budget + 3}
