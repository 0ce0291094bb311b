"""VLM2VLA-AT: actions written over the model's K=10 least likely tokens (the paper's ablation).

Token choice: the mean log-probability of every vocabulary token, averaged over all positions of a few neutral
prompts under the untuned model; the 10 lowest that are usable as symbols are digits 0-9. Usable means: not a
special/added/control token, decodes to visible text, re-encodes to exactly itself, is no prefix of another chosen
token, and any two chosen tokens written side by side re-encode to the same two ids (so training text tokenizes
back into the intended ids). The choice is saved with the tokenizer's fingerprint and the prompts; loading it
against a different tokenizer raises `StaleTokenFileError`.

Encoding: per step, each translation axis as `digits` decimal digits of (value in resolution units + 10**digits//2),
then one gripper digit (0 closed, 1 open, 2 unchanged). With digits=3 at 0.1 cm that covers -50.0..+49.9 cm per axis.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.actions.types import (
    ActionChunk,
    ActionParseError,
    ActionStep,
    binarize_gripper,
    fill_gripper,
    from_units,
    to_units,
)
from harness.records.atomic import atomic_write_text

GRIPPER_DIGITS = {0.0: 0, 1.0: 1, None: 2}
_CONTROL_LIKE = re.compile(r"^<[^<>]+>$|^\[[^\[\]]+\]$")


class StaleTokenFileError(RuntimeError):
    """The saved token choice was made for a different tokenizer."""


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """sha256 of the token -> id table: equal fingerprints mean identical vocabularies."""
    vocab = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode()).hexdigest()


@dataclass
class LeastLikelyTokens:
    ids: list[int]  # ids[d] writes digit d
    strings: list[str]
    mean_logprobs: list[float]
    tokenizer_fingerprint: str
    prompts: list[str]
    model_name: str = ""
    excluded: dict[str, int] = field(default_factory=dict)  # why lower-ranked tokens were passed over

    def save(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(asdict(self), ensure_ascii=False, indent=2))

    @classmethod
    def load(cls, path: str | Path, tokenizer: Any | None = None) -> LeastLikelyTokens:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            tokens = cls(**data)
        except (OSError, json.JSONDecodeError, TypeError) as e:
            raise ValueError(f"{path}: not a least-likely token file ({e}); regenerate it with "
                             "`vlm2vla actions least-likely --model NAME`") from e
        if len(tokens.ids) != 10 or len(set(tokens.ids)) != 10:
            raise ValueError(f"{path}: expected 10 distinct token ids, got {tokens.ids}")
        if tokenizer is not None and tokenizer_fingerprint(tokenizer) != tokens.tokenizer_fingerprint:
            raise StaleTokenFileError(
                f"{path} was made for another tokenizer (fingerprint {tokens.tokenizer_fingerprint[:12]}…); "
                "regenerate it with `vlm2vla actions least-likely --model NAME`")
        return tokens


def _encode_ids(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer.encode(text, add_special_tokens=False))


def _reason_unusable(tokenizer: Any, token_id: int, special: set[int]) -> str | None:
    if token_id in special:
        return "special"
    text = tokenizer.decode([token_id])
    if not text or not text.strip():
        return "blank"
    if "\ufffd" in text or any(ord(c) < 32 for c in text):
        return "control-or-partial-byte"
    if _CONTROL_LIKE.match(text.strip()):
        return "control-like"
    if _encode_ids(tokenizer, text) != [token_id]:
        return "not-single-token"
    return None


def _compatible(tokenizer: Any, new: tuple[int, str], chosen: Sequence[tuple[int, str]]) -> bool:
    nid, ns = new
    if _encode_ids(tokenizer, ns + ns) != [nid, nid]:
        return False
    for cid, cs in chosen:
        if ns.startswith(cs) or cs.startswith(ns):
            return False
        if _encode_ids(tokenizer, cs + ns) != [cid, nid] or _encode_ids(tokenizer, ns + cs) != [nid, cid]:
            return False
    return True


def special_ids(tokenizer: Any) -> set[int]:
    ids = set(getattr(tokenizer, "all_special_ids", []) or [])
    ids |= set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    return {int(i) for i in ids}


def select_least_likely(model: Any, tokenizer: Any, prompts: Sequence[str], k: int = 10,
                        model_name: str = "") -> LeastLikelyTokens:
    """Choose the k least likely usable tokens of `model` (any HF causal or image-text model) over `prompts`."""
    import torch

    vocab_size = len(tokenizer)
    total, count = None, 0
    model_was_training = getattr(model, "training", False)
    model.eval()
    with torch.no_grad():
        for prompt in prompts:
            ids = tokenizer(prompt, return_tensors="pt").input_ids.to(next(model.parameters()).device)
            logits = model(input_ids=ids).logits[0, :, :vocab_size].float()
            logp = torch.log_softmax(logits, dim=-1).sum(0)
            total = logp if total is None else total + logp
            count += logits.shape[0]
    if model_was_training:
        model.train()
    mean = (total / count).cpu()
    special = special_ids(tokenizer)
    chosen: list[tuple[int, str]] = []
    excluded: dict[str, int] = {}
    for token_id in torch.argsort(mean).tolist():
        reason = _reason_unusable(tokenizer, token_id, special)
        if reason is None:
            text = tokenizer.decode([token_id])
            if _compatible(tokenizer, (token_id, text), chosen):
                chosen.append((token_id, text))
                if len(chosen) == k:
                    break
                continue
            reason = "conflicts-with-chosen"
        excluded[reason] = excluded.get(reason, 0) + 1
    if len(chosen) < k:
        raise RuntimeError(f"only {len(chosen)} usable tokens found in a vocabulary of {vocab_size}; need {k}")
    return LeastLikelyTokens(
        ids=[i for i, _ in chosen], strings=[s for _, s in chosen],
        mean_logprobs=[float(mean[i]) for i, _ in chosen], tokenizer_fingerprint=tokenizer_fingerprint(tokenizer),
        prompts=list(prompts), model_name=model_name, excluded=excluded,
    )


def chunk_to_digits(chunk: Sequence[ActionStep], digits: int = 3, resolution_cm: float = 0.1) -> list[int]:
    """The model-independent layout: per step 3 axes x `digits` digits, then one gripper digit."""
    if not chunk:
        raise ValueError("cannot encode an empty action chunk")
    offset = 10**digits // 2
    out: list[int] = []
    for step in fill_gripper(chunk):
        for v in step.translation:
            units = to_units(v, resolution_cm) + offset
            if not 0 <= units < 10**digits:
                raise ValueError(f"{100 * v:.1f} cm is outside the least-likely codec's range "
                                 f"±{offset * resolution_cm:g} cm")
            out += [int(c) for c in f"{units:0{digits}d}"]
        out.append(GRIPPER_DIGITS[binarize_gripper(step.gripper)])
    return out


def digits_to_chunk(symbols: Sequence[int], digits: int = 3, resolution_cm: float = 0.1, text: str = "") -> ActionChunk:
    """Inverse of `chunk_to_digits`; `text` is quoted in errors."""
    n, offset = 3 * digits + 1, 10**digits // 2
    if not symbols:
        raise ActionParseError(text, 0, "no action found")
    if len(symbols) % n:
        raise ActionParseError(text, len(text), f"{len(symbols)} symbols is not a whole number of steps of {n}")
    steps: ActionChunk = []
    gripper: float | None = None
    for s in range(0, len(symbols), n):
        block = symbols[s : s + n]
        values = []
        for a in range(3):
            units = int("".join(str(d) for d in block[a * digits : (a + 1) * digits]))
            values.append(from_units(units - offset, resolution_cm))
        if block[-1] not in (0, 1, 2):
            raise ActionParseError(text, s, f"gripper symbol must be digit 0, 1 or 2, got {block[-1]}")
        gripper = {0: 0.0, 1: 1.0, 2: gripper}[block[-1]]
        steps.append(ActionStep(*values, gripper=gripper))
    return steps


class LeastLikelyCodec:
    """Action chunk <-> digit symbols over 10 chosen tokens (as ids, or as their concatenated text)."""

    name = "least_likely"

    def __init__(self, tokens: LeastLikelyTokens, digits: int = 3, resolution_cm: float = 0.1):
        self.tokens, self.digits, self.resolution_cm = tokens, digits, resolution_cm
        self._digit_of_id = {tid: d for d, tid in enumerate(tokens.ids)}
        self._by_length = sorted(enumerate(tokens.strings), key=lambda ds: -len(ds[1]))

    def encode_digits(self, chunk: Sequence[ActionStep]) -> list[int]:
        return chunk_to_digits(chunk, self.digits, self.resolution_cm)

    def encode_ids(self, chunk: Sequence[ActionStep]) -> list[int]:
        return [self.tokens.ids[d] for d in self.encode_digits(chunk)]

    def encode(self, chunk: Sequence[ActionStep]) -> str:
        return "".join(self.tokens.strings[d] for d in self.encode_digits(chunk))

    def decode_digits(self, digits: Sequence[int], text: str = "") -> ActionChunk:
        return digits_to_chunk(digits, self.digits, self.resolution_cm, text)

    def decode_ids(self, ids: Sequence[int]) -> ActionChunk:
        digits = []
        for pos, tid in enumerate(ids):
            if tid not in self._digit_of_id:
                raise ActionParseError(str(list(ids)), pos, f"token id {tid} is not one of the 10 action tokens")
            digits.append(self._digit_of_id[tid])
        return self.decode_digits(digits)

    def decode(self, text: str) -> ActionChunk:
        try:
            return self._decode_text(text)
        except ActionParseError as first:
            if text.strip() == text:
                raise
            try:  # surrounding whitespace a model added around the symbols
                return self._decode_text(text.strip())
            except ActionParseError:
                raise first from None

    def _decode_text(self, text: str) -> ActionChunk:
        digits, pos = [], 0
        while pos < len(text):
            for digit, s in self._by_length:
                if text.startswith(s, pos):
                    digits.append(digit)
                    pos += len(s)
                    break
            else:
                raise ActionParseError(text, pos, "text is not made of the 10 action tokens")
        return self.decode_digits(digits, text)
