"""The session pieces the robot layer builds: the policy now driving, model policies, the validator."""

from __future__ import annotations

import pytest

from harness.policy.scripted import ScriptedPolicy
from harness.policy.validators import NoneValidator
from harness.robot.console import OperatorConsole, OperatorValidator
from harness.robot.factory import CurrentPolicy, SetupError, model_policy, session_validator
from harness.specs import load_model


class _ModelPolicy:
    def __init__(self, loaded):
        self.loaded = loaded


def test_current_policy_follows_the_session_and_serves_its_model():
    a, b = _ModelPolicy("model a"), _ModelPolicy("model b")
    current = CurrentPolicy({"a": a, "b": b})
    assert current.policy_for("b") is b and current.model() == "model b"
    assert current.policy_for("a") is a and current.model() == "model a"


def test_validators_by_name():
    console = OperatorConsole()
    assert isinstance(session_validator("none", console, CurrentPolicy()), NoneValidator)
    assert isinstance(session_validator("operator", console, CurrentPolicy()), OperatorValidator)
    with pytest.raises(SetupError, match="--validator psychic: unknown validator 'psychic'"):
        session_validator("psychic", console, CurrentPolicy())


def test_self_validation_needs_every_policy_to_have_a_model():
    scripted = model_policy(load_model("scripted"))
    assert isinstance(scripted, ScriptedPolicy)
    current = CurrentPolicy({"scripted": scripted, "m": _ModelPolicy("m")})
    with pytest.raises(SetupError, match="scripted has none"):
        session_validator("self", OperatorConsole(), current)
    validator = session_validator("self", OperatorConsole(), CurrentPolicy({"m": _ModelPolicy("m")}))
    assert validator is not None


def test_a_spec_that_builds_no_model_policy_is_a_setup_error():
    with pytest.raises(SetupError, match="model 'oracle': .*simulator's oracle"):
        model_policy(load_model("oracle"))
