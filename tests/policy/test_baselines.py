"""The OpenVLA/ECoT policy wiring, with a fake model (the real checkpoints cannot run here)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.actions import ActionParseError, ActionStep
from harness.policy.base import Decision, Observation
from harness.policy.baselines import OpenVLAPolicy
from harness.policy.factory import make_policy
from harness.specs.model import ModelSpec


class FakeOpenVLA:
    """`predict(image, instruction)` as `OpenVLAModel.predict`: a chunk, or ActionParseError for non-action ids."""

    def __init__(self, spec, fail_on=()):
        self.spec, self.fail_on, self.seen = spec, set(fail_on), []

    def predict(self, image, instruction, *, max_new_tokens=None):
        self.seen.append((image.size, instruction))
        if len(self.seen) in self.fail_on:
            raise ActionParseError("[31999, 5]", 0, "token ids [5] are not among the 256 action ids")
        return [ActionStep(0.01, 0.0, -0.02, 1.0)]


@pytest.mark.parametrize("kind", ["openvla", "ecot"])
def test_factory_and_cycle(kind):
    spec = ModelSpec(name=kind, type=kind, base="openvla/openvla-7b")
    fake = FakeOpenVLA(spec, fail_on={2})
    policy = make_policy(spec, loaded=fake)
    assert isinstance(policy, OpenVLAPolicy) and policy.name == kind
    obs = Observation(np.zeros((48, 64, 3), np.uint8))
    assert policy.start("pick up the carrot", obs) == ["pick up the carrot"]
    out = policy.act(obs)
    assert out.chunk == [ActionStep(0.01, 0.0, -0.02, 1.0)] and out.parse_error is None
    assert fake.seen[0] == ((64, 48), "pick up the carrot")
    bad = policy.act(obs)
    assert bad.chunk is None and "not among the 256 action ids" in bad.parse_error
    policy.advance(Decision("proceed"))
    assert policy.current_subtask == "pick up the carrot" and not policy.done  # ends on the task's budget


def test_scripted_and_oracle_branches_stay():
    assert make_policy(ModelSpec(name="scripted", type="scripted", base="none")).name == "scripted"
    with pytest.raises(ValueError, match="oracle"):
        make_policy(ModelSpec(name="oracle", type="oracle", base="none"))
