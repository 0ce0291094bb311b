"""Validators that close the loop after each executed chunk: retry the sub-task or proceed to the next.

- `none`: always proceed (open loop).
- `self`: the policy model itself, asked the training template's completion question (`templates.
  completion_prompt`, images before and after) and decoded under a yes/no grammar, so its answer always parses.
  (The paper tried the base VLM as its own validator and found it unreliable; this is that ablation.)
- `gemini`: Gemini 2.5 Pro through google-genai, given the images before and after and the current and next
  sub-task; a JSON answer validated with pydantic; HTTP retries with backoff are the SDK's (`HttpRetryOptions`),
  an answer that does not validate is asked once more; if the validator still has no answer it decides `retry`
  and says why (the policy bounds retries per sub-task).
- `operator`: the robot console's (it needs the terminal); built by the trial runner's CLI.

Every decision carries its reason; the trial runner logs it with the cycle.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from harness.policy.base import Decision, Observation, Validator

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel
    from harness.specs.data import GeminiSpec

log = logging.getLogger(__name__)
VALIDATORS = ("none", "self", "gemini", "operator")
API_KEY_ENV = "GEMINI_API_KEY"


class ValidatorSetupError(RuntimeError):
    """A validator cannot start (no key, no SDK, no model). The message says how to fix it."""


class NoneValidator(Validator):
    """Always proceed: the open-loop ablation, and the dry run."""

    name = "none"

    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        return Decision("proceed", "no validator: always proceed", self.name)


def _pil(observation: Observation):
    from PIL import Image

    return Image.fromarray(np.ascontiguousarray(observation.image).astype(np.uint8)).convert("RGB")


# ---------------------------------------------------------------------------------------------------- self
class SelfValidator(Validator):
    """The policy's own model answers the completion question (greedy, yes/no grammar)."""

    name = "self"

    def __init__(self, model: LoadedModel | Callable[[], LoadedModel]):
        self._model = model
        self._generators: dict[int, Any] = {}

    def _generator(self) -> Any:
        from harness.policy.decoding import FastGenerator

        loaded = self._model() if callable(self._model) else self._model
        key = id(loaded)
        if key not in self._generators:  # its own cache: the policy's prefix stays warm
            self._generators[key] = FastGenerator.from_spec(loaded)
        return self._generators[key]

    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        from harness.data.templates import completion_prompt, parse_yes_no
        from harness.policy.grammar import YES_NO_LARK
        from harness.specs.model import StageSampling

        result = self._generator().generate(completion_prompt(subtask), [_pil(before), _pil(after)],
                                            StageSampling(0.0, 1.0, 4), seed=0, grammar=YES_NO_LARK)
        done = parse_yes_no(result.text)
        if done is None:  # pragma: no cover - the grammar admits only yes and no
            return Decision("retry", f"the model's answer {result.text!r} is neither yes nor no", self.name)
        verdict = "complete" if done else "not complete"
        return Decision("proceed" if done else "retry", f"the model says sub-task {subtask!r} is {verdict} "
                        f"(answered {result.text!r})", self.name)


# ---------------------------------------------------------------------------------------------------- gemini
class ValidatorAnswer(BaseModel):
    decision: Literal["retry", "proceed"] = Field(
        description="proceed if the current sub-task has been completed, retry otherwise")
    reason: str = Field(description="one sentence: what the images show that decides it")


def gemini_prompt(subtask: str, next_subtask: str | None) -> str:
    after = f"the next sub-task is '{next_subtask}'" if next_subtask else "it is the last sub-task"
    return ("You supervise a robot arm (WidowX) executing a task one sub-task at a time. The first image was taken "
            "before and the second after the robot executed one chunk of actions.\n"
            f"Current sub-task: '{subtask}' ({after}).\n"
            "Has the current sub-task been completed, so the robot can proceed? Answer 'proceed' if it is "
            "complete, 'retry' if the robot should attempt it again, and give the reason in one sentence.")


def _jpeg(observation: Observation, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    _pil(observation).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def parse_answer(response: Any) -> ValidatorAnswer:
    """`response.parsed` when the SDK filled it (real server replies), else the JSON text; raises ValueError."""
    parsed = getattr(response, "parsed", None)
    if isinstance(parsed, ValidatorAnswer):
        return parsed
    text = getattr(response, "text", None)
    if not text:
        raise ValueError("empty answer")
    try:
        return ValidatorAnswer.model_validate_json(text)
    except ValidationError as e:
        raise ValueError(f"answer does not validate: {e.errors()[0]['msg']} in {text[:120]!r}") from e


class GeminiValidator(Validator):
    """Gemini 2.5 Pro decides from the images before and after (see the module doc)."""

    name = "gemini"

    def __init__(self, spec: GeminiSpec | None = None, client: Any = None, api_key: str | None = None,
                 reasks: int = 1):
        from harness.specs.data import GeminiSpec

        self.spec = spec or GeminiSpec()
        self.reasks = reasks
        self.calls = self.errors = 0
        if client is None:
            if not (api_key or os.environ.get(API_KEY_ENV)):
                raise ValidatorSetupError(f"--validator gemini: {API_KEY_ENV} is not set; export {API_KEY_ENV}=<your "
                                          "key from https://aistudio.google.com/apikey>, or use --validator self, "
                                          "operator or none")
            from harness.data.gemini import GeminiSetupError, make_client

            try:
                client = make_client(self.spec, api_key)
            except GeminiSetupError as e:
                raise ValidatorSetupError(f"--validator gemini: {e}") from e
        self.client = client

    def _config(self) -> Any:
        from google.genai import types

        return types.GenerateContentConfig(response_mime_type="application/json", response_schema=ValidatorAnswer,
                                           temperature=self.spec.temperature)

    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        from google.genai import types

        contents = [types.Part.from_bytes(data=_jpeg(before), mime_type="image/jpeg"),
                    types.Part.from_bytes(data=_jpeg(after), mime_type="image/jpeg"),
                    gemini_prompt(subtask, next_subtask)]
        problem = ""
        for _ in range(1 + self.reasks):
            self.calls += 1
            try:
                response = self.client.models.generate_content(model=self.spec.model, contents=contents,
                                                               config=self._config())
            except Exception as e:  # the SDK has already retried 408/429/5xx and timeouts with backoff
                self.errors += 1
                log.warning("gemini validator: %s: %s", type(e).__name__, e)
                return Decision("retry", f"gemini unavailable after the SDK's retries ({type(e).__name__}: "
                                f"{str(e)[:160]}); retrying the sub-task", self.name)
            try:
                answer = parse_answer(response)
            except ValueError as e:
                self.errors += 1
                problem = str(e)
                continue
            return Decision(answer.decision, answer.reason, self.name)
        return Decision("retry", f"gemini gave no valid answer ({problem}); retrying the sub-task", self.name)


# ---------------------------------------------------------------------------------------------------- factory
def make_validator(name: str, *, model: LoadedModel | Callable[[], LoadedModel] | None = None,
                   gemini_client: Any = None, gemini_spec: GeminiSpec | None = None) -> Validator:
    """`self` needs the policy's model (or a callable returning the one driving the current trial)."""
    if name == "none":
        return NoneValidator()
    if name == "self":
        if model is None:
            raise ValidatorSetupError("--validator self needs a model policy (a gemma3 spec); scripted and oracle "
                                      "policies have no model to ask")
        return SelfValidator(model)
    if name == "gemini":
        try:
            import google.genai  # noqa: F401
        except ImportError as e:
            raise ValidatorSetupError("--validator gemini needs google-genai: pip install -e '.[gemini]' "
                                      "(or make setup-all)") from e
        return GeminiValidator(gemini_spec, gemini_client)
    if name == "operator":
        raise ValueError("the operator validator is the robot console's: build it with harness.robot.console."
                         "OperatorValidator (vlm2vla robot-trials --validator operator does)")
    raise ValueError(f"unknown validator {name!r}; choose one of {', '.join(VALIDATORS)}")
