"""The OpenVLA / ECoT baselines as policies: one flat action per cycle from the image and the instruction.

They have no sub-tasks: the whole instruction is the only "sub-task", a validator's proceed or retry changes
nothing, and a trial ends on the task's cycle or time budget (or the operator). A prediction whose tokens are not
action tokens is a parse failure (nothing moves), like malformed text from VLM2VLA.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING

from harness.actions import ActionParseError, chunk_to_lists
from harness.policy.base import CycleOutput, FlatPolicy, Observation
from harness.policy.hierarchical import to_image

if TYPE_CHECKING:
    from harness.models.openvla import OpenVLAModel


class OpenVLAPolicy(FlatPolicy):
    def __init__(self, model: OpenVLAModel, name: str | None = None):
        self.model = model
        self.name = name or model.spec.name
        self.control = model.spec.control  # its own evaluation's rate, blocking and step budget (the runner's)
        self.instruction: str | None = None

    def act(self, observation: Observation) -> CycleOutput:
        if self.instruction is None:
            raise RuntimeError("act() called before start()")
        t0 = time.perf_counter()
        try:
            chunk, error = self.model.predict(to_image(observation), self.instruction), None
            text = json.dumps(chunk_to_lists(chunk))
        except ActionParseError as e:
            chunk, error, text = None, str(e), e.text
        return CycleOutput(self.instruction, "", text, chunk, error, {"action": text},
                           {"latency_s": time.perf_counter() - t0})
