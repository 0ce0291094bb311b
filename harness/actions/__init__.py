"""The action language: robot action chunks as text (verbalized or least-likely tokens) and back."""

from harness.actions.codec import ActionCodec, make_codec
from harness.actions.decompose import merge_deltas
from harness.actions.least_likely import (
    LeastLikelyCodec,
    LeastLikelyTokens,
    StaleTokenFileError,
    chunk_to_digits,
    digits_to_chunk,
    select_least_likely,
    tokenizer_fingerprint,
)
from harness.actions.plan import direction_words, gripper_event, motion_plan
from harness.actions.types import (
    ActionChunk,
    ActionParseError,
    ActionStep,
    chunk_from_lists,
    chunk_to_lists,
    displacement,
    fill_gripper,
    quantize,
)
from harness.actions.verbalized import VerbalizedCodec

__all__ = [
    "ActionChunk", "ActionCodec", "ActionParseError", "ActionStep", "LeastLikelyCodec", "LeastLikelyTokens",
    "StaleTokenFileError", "VerbalizedCodec", "chunk_from_lists", "chunk_to_digits", "digits_to_chunk", "chunk_to_lists", "direction_words",
    "displacement", "fill_gripper", "gripper_event", "make_codec", "merge_deltas", "motion_plan", "quantize",
    "select_least_likely", "tokenizer_fingerprint",
]
