"""Validators that close the loop after each executed chunk: retry the sub-task or proceed to the next.

`make_validator` is the one place a validator is built from its name; the operator validator is the robot
console's (it needs the terminal) and is wired by the trial runner.
"""

from __future__ import annotations

from harness.policy.base import Decision, Observation, Validator

VALIDATORS = ("none", "self", "gemini", "operator")


class NoneValidator(Validator):
    """Always proceed: the open-loop ablation, and the dry run."""

    name = "none"

    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        return Decision("proceed", "no validator: always proceed", self.name)


def make_validator(name: str, **kwargs) -> Validator:
    if name == "none":
        return NoneValidator()
    if name in VALIDATORS:
        raise NotImplementedError(f"validator {name!r} is not built yet (issue 5)")
    raise ValueError(f"unknown validator {name!r}; choose one of {', '.join(VALIDATORS)}")
