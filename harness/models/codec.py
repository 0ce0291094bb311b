"""The action codec of a loaded model: its spec's representation, read and written over its own tokens.

A function of the loaded model rather than part of it: a least-likely codec needs the tokens chosen on the model's
untuned weights (`harness.models.least_likely`), which in turn reads the loaded model, so holding it on `LoadedModel`
would make the two modules import each other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.actions import ActionCodec, make_codec
from harness.models.least_likely import least_likely_tokens

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel


def action_codec(loaded: LoadedModel) -> ActionCodec:
    """The codec of the spec's action representation (least-likely: over this tokenizer's chosen tokens)."""
    spec = loaded.action_spec()
    return make_codec(spec, least_likely_tokens(loaded) if spec.type == "least_likely" else None)
