"""Held-out action quality: parse rate and the error of the decoded net translation, on the tiny model with its
generation replaced by known texts (the metric, not the model, is under test here)."""

from __future__ import annotations

import json
import math

import pytest

from harness.actions import VerbalizedCodec, chunk_from_lists, displacement, make_codec
from harness.data.dlan import read_examples
from harness.mechanism.action_quality import action_quality
from harness.models.least_likely import least_likely_tokens
from harness.specs import load_actions


def _held(dlan):
    return {e.example_id: e for e in read_examples(dlan, split="heldout", stage="action")}


def test_parse_rate_and_error_of_known_outputs(tiny_model, dlan_heldout, monkeypatch):
    held = _held(dlan_heldout)
    ids = list(held)
    codec = VerbalizedCodec(0.1)
    shifted = chunk_from_lists(json.loads(held[ids[1]].chunk_json))
    shifted[0] = type(shifted[0])(shifted[0].dx + 0.03, shifted[0].dy, shifted[0].dz, shifted[0].gripper)
    texts = {ids[0]: held[ids[0]].target,  # exact: error 0
             ids[1]: codec.encode(shifted),  # 3 cm off on one axis: 1 cm averaged over three
             ids[2]: "I would rather not move."}  # does not parse
    seen = {}

    def fake(contents, *, max_new_tokens, **_):
        out = []
        for content in contents:
            example = next(e for e in held.values() if e.prompt == content[-1])
            seen[example.example_id] = max_new_tokens
            out.append(texts[example.example_id])
        return out

    monkeypatch.setattr(tiny_model, "generate_batch", fake)
    q = action_quality(tiny_model, dlan_heldout, "verbalized", batch_size=1, progress=False)
    assert (q.n, q.parsed) == (3, 2) and q.parse_rate == pytest.approx(2 / 3)
    assert q.mae_cm == pytest.approx((0.0 + 1.0) / 2, abs=1e-6)
    zero = [sum(abs(v) for v in displacement(chunk_from_lists(json.loads(e.chunk_json)))) * 100 / 3
            for e in held.values()]
    assert q.zero_motion_mae_cm == pytest.approx(sum(zero) / 3)
    lengths = {i: len(tiny_model.tokenizer.encode(e.target, add_special_tokens=False)) for i, e in held.items()}
    assert seen == {i: math.ceil(1.5 * n) + 8 for i, n in lengths.items()}  # one example per batch: its own budget
    assert q.max_new_tokens == math.ceil(1.5 * max(lengths.values())) + 8
    assert [s["parsed"] for s in q.samples] == [True, True, False]  # in the split's order


def test_batches_group_similar_lengths_and_budget_for_their_longest(tiny_model, dlan_heldout, monkeypatch):
    held = _held(dlan_heldout)
    lengths = {i: len(tiny_model.tokenizer.encode(e.target, add_special_tokens=False)) for i, e in held.items()}
    budgets = []

    def fake(contents, *, max_new_tokens, **_):
        ids = [next(i for i, e in held.items() if e.prompt == c[-1]) for c in contents]
        budgets.append((sorted(lengths[i] for i in ids), max_new_tokens))
        return [held[i].target for i in ids]

    monkeypatch.setattr(tiny_model, "generate_batch", fake)
    q = action_quality(tiny_model, dlan_heldout, "verbalized", batch_size=2, progress=False)
    assert q.parsed == 3 and q.mae_cm == 0.0
    ordered = sorted(lengths.values())
    assert [b[0] for b in budgets] == [ordered[:2], ordered[2:]]
    assert [b[1] for b in budgets] == [math.ceil(1.5 * ordered[1]) + 8, math.ceil(1.5 * ordered[2]) + 8]


def test_least_likely_outputs_are_read_with_the_given_tokens(tiny_model, dlan_heldout, monkeypatch, tmp_path):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    tokens = least_likely_tokens(tiny_model)
    codec = make_codec(load_actions("least-likely"), tokens)
    held = _held(dlan_heldout)
    answers = [codec.encode(chunk_from_lists(json.loads(e.chunk_json))) for e in held.values()]
    monkeypatch.setattr(tiny_model, "generate_batch", lambda contents, **_: answers[:len(contents)])
    q = action_quality(tiny_model, dlan_heldout, "least_likely", tokens=tokens, limit=2, progress=False)
    assert (q.n, q.parsed, q.mae_cm) == (2, 2, 0.0)
    assert q.max_new_tokens == math.ceil(1.5 * max(len(e.action_digits) for e in list(held.values())[:2])) + 8


def test_nothing_parsed_gives_no_error_value(tiny_model, dlan_heldout, monkeypatch):
    monkeypatch.setattr(tiny_model, "generate_batch", lambda contents, **_: ["banana"] * len(contents))
    q = action_quality(tiny_model, dlan_heldout, "verbalized", progress=False)
    assert q.parse_rate == 0.0 and math.isnan(q.mae_cm)
    with pytest.raises(ValueError, match="unknown representation"):
        action_quality(tiny_model, dlan_heldout, "bins", progress=False)
