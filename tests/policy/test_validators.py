"""Validators: Gemini through a fake client and through the real SDK over a mock transport (retries, faults,
validation), the policy model as its own validator, and the factory's errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from harness.policy.base import Observation
from harness.policy.validators import (
    API_KEY_ENV,
    GeminiValidator,
    NoneValidator,
    SelfValidator,
    ValidatorSetupError,
    make_validator,
)
from harness.specs.data import GeminiSpec

BEFORE = Observation(np.zeros((48, 64, 3), np.uint8))
AFTER = Observation(np.full((48, 64, 3), 200, np.uint8))


class FakeClient:
    """`client.models.generate_content`: answers from a script (dict -> JSON text, 'invalid', 'empty', or an
    exception instance to raise), recording what it was sent."""

    def __init__(self, script):
        self.script, self.requests = list(script), []
        self.models = SimpleNamespace(generate_content=self.generate_content)

    def generate_content(self, model, contents, config=None):
        self.requests.append((model, contents, config))
        item = self.script[min(len(self.requests) - 1, len(self.script) - 1)]
        if isinstance(item, Exception):
            raise item
        text = {"invalid": '{"decision": "maybe", "reason": "?"}', "empty": ""}.get(item) if isinstance(item, str) \
            else json.dumps(item)
        return SimpleNamespace(text=text, parsed=None)


def test_gemini_answer_is_the_decision_with_its_reason():
    fake = FakeClient([{"decision": "proceed", "reason": "the carrot is in the gripper"}])
    d = GeminiValidator(client=fake).decide(BEFORE, AFTER, "grasp the carrot", "lift the carrot")
    assert (d.action, d.reason, d.source) == ("proceed", "the carrot is in the gripper", "gemini")
    model, contents, config = fake.requests[0]
    assert model == "gemini-2.5-pro"
    assert [p.inline_data.mime_type for p in contents[:2]] == ["image/jpeg", "image/jpeg"]
    assert contents[0].inline_data.data != contents[1].inline_data.data  # before, then after
    assert "'grasp the carrot'" in contents[2] and "'lift the carrot'" in contents[2]
    assert config.response_mime_type == "application/json" and config.response_schema.__name__ == "ValidatorAnswer"
    last = GeminiValidator(client=FakeClient([{"decision": "retry", "reason": "r"}]))
    assert last.decide(BEFORE, AFTER, "lift the carrot", None).action == "retry"


@pytest.mark.parametrize("first", ["invalid", "empty"])
def test_an_invalid_answer_is_asked_again(first):
    fake = FakeClient([first, {"decision": "proceed", "reason": "done"}])
    v = GeminiValidator(client=fake)
    assert v.decide(BEFORE, AFTER, "a", "b").action == "proceed"
    assert len(fake.requests) == 2 and v.errors == 1


def test_no_valid_answer_or_api_failure_retries_with_the_reason():
    from tests.data.fake_gemini import api_error

    v = GeminiValidator(client=FakeClient(["invalid"]))
    d = v.decide(BEFORE, AFTER, "a", "b")
    assert d.action == "retry" and "no valid answer" in d.reason and v.calls == 2
    d = GeminiValidator(client=FakeClient([api_error(503)])).decide(BEFORE, AFTER, "a", "b")
    assert d.action == "retry" and "ServerError" in d.reason and "503" in d.reason


def test_sdk_retries_429_503_timeout_through_the_real_client():
    from tests.data.fake_gemini import mock_transport_client

    spec = GeminiSpec(retry_attempts=5, retry_initial_delay_s=0.0, retry_max_delay_s=0.0, timeout_s=5)
    client, seen = mock_transport_client(spec, [429, 503, "timeout", {"decision": "proceed", "reason": "lifted"}])
    d = GeminiValidator(spec, client=client).decide(BEFORE, AFTER, "lift the carrot", None)
    assert (d.action, d.reason) == ("proceed", "lifted") and len(seen) == 4
    body = json.loads(seen[-1].content)
    assert [p["inlineData"]["mime_type"] for p in body["contents"][0]["parts"][:2]] == ["image/jpeg"] * 2
    assert body["generationConfig"]["responseMimeType"] == "application/json"


def test_missing_key_is_explained(monkeypatch):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(ValidatorSetupError, match="GEMINI_API_KEY is not set.*--validator self"):
        make_validator("gemini")


def test_factory():
    assert isinstance(make_validator("none"), NoneValidator)
    assert make_validator("none").decide(BEFORE, AFTER, "a", None).action == "proceed"
    with pytest.raises(ValidatorSetupError, match="needs a model policy"):
        make_validator("self")
    with pytest.raises(ValueError, match="robot console"):
        make_validator("operator")
    with pytest.raises(ValueError, match="unknown validator 'x'"):
        make_validator("x")


def test_self_validator_answers_yes_or_no_with_the_model(tiny):
    from harness.data import templates as T
    from harness.policy.hierarchical import to_image

    v = make_validator("self", model=lambda: tiny)
    assert isinstance(v, SelfValidator)
    d = v.decide(BEFORE, AFTER, "grasp the carrot", "lift the carrot")
    assert d.action in ("retry", "proceed") and d.source == "self" and "grasp the carrot" in d.reason
    # the answer is the model's greedy choice between the two words the grammar allows
    free = tiny.generate_prompt(T.completion_prompt("grasp the carrot"), [to_image(BEFORE), to_image(AFTER)],
                                max_new_tokens=4)
    if T.parse_yes_no(free) is not None:
        assert (d.action == "proceed") == T.parse_yes_no(free)
