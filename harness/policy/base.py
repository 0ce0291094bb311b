"""The policy and validator interfaces the robot side drives (real arm, simulator, dry run alike).

A trial: `start` once with the first observation (the sub-tasks are planned then, as in the paper); then cycles of
`act` -> the robot executes the chunk -> a `Validator` decides retry or proceed -> `advance`. Malformed model text
never reaches the robot: `CycleOutput.chunk` is None and `parse_error` says why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from harness.actions.types import ActionChunk


@dataclass
class Observation:
    image: np.ndarray  # H x W x 3 uint8, the policy camera
    ee_position: tuple[float, float, float] | None = None  # metres, robot base frame, when the robot reports it
    gripper: float | None = None  # 1 open, 0 closed
    timestamp: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific state (e.g. simulator object poses)


@dataclass
class CycleOutput:
    subtask: str
    plan: str
    action_text: str
    chunk: ActionChunk | None  # None when the action text did not parse: nothing moves
    parse_error: str | None = None
    texts: dict[str, str] = field(default_factory=dict)  # raw text of every stage generated this cycle
    stats: dict[str, float] = field(default_factory=dict)  # latency, forward passes, prefill tokens, ...


@dataclass
class Decision:
    action: Literal["retry", "proceed"]
    reason: str = ""
    source: str = ""  # which validator decided


class Policy(ABC):
    name: str = "policy"

    @abstractmethod
    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        """Begin a trial: plan and return the sub-tasks."""

    @abstractmethod
    def act(self, observation: Observation) -> CycleOutput:
        """One cycle for the current sub-task: motion plan, then action chunk."""

    @abstractmethod
    def advance(self, decision: Decision) -> None:
        """Apply the validator's decision: stay on the sub-task (retry) or move to the next (proceed)."""

    @property
    @abstractmethod
    def current_subtask(self) -> str | None:
        """The sub-task the next `act` works on; None once every sub-task is done."""

    @property
    def done(self) -> bool:
        return self.current_subtask is None

    @property
    def next_subtask(self) -> str | None:
        return None


class SubtaskListPolicy(Policy):
    """A policy that works through its sub-task list in order: `subtasks`, and `_index` of the current one (None
    before `start`); one home for which sub-task is current and next."""

    subtasks: list[str]
    _index: int | None = None

    @property
    def current_subtask(self) -> str | None:
        if self._index is None or self._index >= len(self.subtasks):
            return None
        return self.subtasks[self._index]

    @property
    def next_subtask(self) -> str | None:
        if self._index is None or self._index + 1 >= len(self.subtasks):
            return None
        return self.subtasks[self._index + 1]


class FlatPolicy(Policy):
    """One action per cycle for the instruction itself (the OpenVLA-style baselines): the instruction is the only
    sub-task and a validator's decision changes nothing."""

    instruction: str | None = None

    def start(self, instruction: str, observation: Observation, out_of_distribution: bool = False) -> list[str]:
        self.instruction = instruction
        return [instruction]

    def advance(self, decision: Decision) -> None:
        if self.instruction is None:
            raise RuntimeError("advance() called before start()")

    @property
    def current_subtask(self) -> str | None:
        return self.instruction


class Validator(ABC):
    name: str = "validator"

    @abstractmethod
    def decide(self, before: Observation, after: Observation, subtask: str, next_subtask: str | None) -> Decision:
        """Has `subtask` been completed between `before` and `after`?"""
