"""One interface for every action representation, and the factory that builds a codec from its spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from harness.actions.least_likely import LeastLikelyCodec, LeastLikelyTokens
from harness.actions.types import ActionChunk, ActionStep
from harness.actions.verbalized import VerbalizedCodec
from harness.specs.actions import ActionReprSpec


class ActionCodec(Protocol):
    name: str

    def encode(self, chunk: Sequence[ActionStep]) -> str: ...

    def decode(self, text: str) -> ActionChunk: ...


def make_codec(spec: ActionReprSpec, tokens: LeastLikelyTokens | None = None) -> ActionCodec:
    """Build the codec of an action representation. The least-likely codec needs its chosen tokens."""
    if spec.type == "verbalized":
        return VerbalizedCodec(spec.resolution_cm)
    if spec.type == "least_likely":
        if tokens is None:
            raise ValueError(f"action representation {spec.name!r} needs its least-likely tokens; choose them with "
                             "`vlm2vla actions least-likely --model NAME` and pass the file")
        return LeastLikelyCodec(tokens, spec.least_likely.digits, spec.resolution_cm)
    raise ValueError(f"action representation {spec.name!r} of type {spec.type!r} is decoded by its model "
                     "(OpenVLA-style bins), not by a text codec")
