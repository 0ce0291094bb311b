"""The action grammars: every string they admit decodes with the representation's codec, and every chunk the
codec writes is admitted (so constraining never forbids what training taught)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.actions import ActionStep, LeastLikelyCodec, VerbalizedCodec
from harness.actions.plan import motion_plan
from harness.data import templates as T
from harness.models.least_likely import least_likely_tokens
from harness.policy.grammar import (
    Constraint,
    GrammarError,
    least_likely_lark,
    plan_lark,
    subtasks_lark,
    verbalized_lark,
)
from tests.policy.conftest import PLAN_RE


def _walk(tokenizer, stop_ids, lark, rng, vocab, max_tokens=400) -> list[int]:
    """A random path through the grammar: uniform over the allowed tokens, stopping where allowed (p=0.3)."""
    c = Constraint(tokenizer, stop_ids, lark, vocab)
    out: list[int] = []
    while len(out) < max_tokens and not c.finished:
        allowed = [int(i) for i in c.allowed()]
        stops = [i for i in allowed if i in stop_ids]
        if stops and rng.random() < 0.3:
            break
        choices = [i for i in allowed if i not in stop_ids]
        token = rng.choice(choices)
        c.consume([token])
        out.append(token)
    assert c.accepting
    return out


def test_random_verbalized_strings_decode(tiny):
    rng = random.Random(0)
    codec = VerbalizedCodec(0.1)
    lark = verbalized_lark(0.1, max_steps=4)
    for _ in range(40):
        ids = _walk(tiny.tokenizer, tiny.stop_ids, lark, rng, 640)
        text = tiny.tokenizer.decode(ids)
        chunk = codec.decode(text)
        assert 1 <= len(chunk) <= 4, text


def test_random_least_likely_sequences_decode(tiny):
    tokens = least_likely_tokens(tiny)
    codec = LeastLikelyCodec(tokens, digits=3)
    lark = least_likely_lark(tokens.ids, digits=3, max_steps=3)
    rng = random.Random(1)
    for _ in range(30):
        ids = _walk(tiny.tokenizer, tiny.stop_ids, lark, rng, 640)
        assert set(ids) <= set(tokens.ids) and len(ids) % 10 == 0 and 10 <= len(ids) <= 30
        assert len(codec.decode_ids(ids)) == len(ids) // 10
        assert codec.decode(tiny.tokenizer.decode(ids)) == codec.decode_ids(ids)


_value = st.integers(-999, 999).map(lambda u: u / 1000)
_step = st.builds(ActionStep, _value, _value, _value, st.sampled_from([None, 0.0, 1.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(_step, min_size=1, max_size=8))
def test_every_encoded_chunk_is_admitted(tiny, chunk):
    text = VerbalizedCodec(0.1).encode(chunk)
    c = Constraint(tiny.tokenizer, tiny.stop_ids, verbalized_lark(0.1, 8), 640)
    c.consume(tiny.tokenizer.encode(text, add_special_tokens=False))
    assert c.accepting, text


def test_bounded_and_rejecting():
    with pytest.raises(ValueError, match="max_steps"):
        verbalized_lark(0.1, 0)
    with pytest.raises(ValueError, match="10 distinct"):
        least_likely_lark([1, 2, 3])


def test_non_canonical_text_is_rejected(tiny):
    c = Constraint(tiny.tokenizer, tiny.stop_ids, verbalized_lark(), 640)
    with pytest.raises(GrammarError, match="rejected"):
        c.consume(tiny.tokenizer.encode("move sideways 3 cm", add_special_tokens=False))


def test_stop_tokens_only_where_the_text_is_complete(tiny):
    c = Constraint(tiny.tokenizer, tiny.stop_ids, verbalized_lark(), 640)
    assert not set(tiny.stop_ids) & set(c.allowed().tolist())
    c.consume(tiny.tokenizer.encode("close gripper", add_special_tokens=False))
    assert set(tiny.stop_ids) <= set(c.allowed().tolist())


def test_every_motion_plan_the_annotator_writes_is_admitted(tiny):
    """Constraining plans never forbids what training taught: motion_plan's output over random chunks."""
    rng = random.Random(2)
    seen = set()
    for _ in range(150):
        chunk = [ActionStep(rng.choice([0.0, rng.uniform(-0.05, 0.05)]), rng.choice([0.0, rng.uniform(-0.05, 0.05)]),
                            rng.choice([0.0, rng.uniform(-0.05, 0.05)]), rng.choice([0.0, 1.0]))
                 for _ in range(rng.randint(1, 4))]
        plan = motion_plan(chunk, previous_gripper=rng.choice([None, 0.0, 1.0]))
        seen.add(plan)
        c = Constraint(tiny.tokenizer, tiny.stop_ids, plan_lark(), 640)
        c.consume(tiny.tokenizer.encode(plan, add_special_tokens=False))
        assert c.accepting, plan
    assert len(seen) > 30 and any("slightly" in p for p in seen) and any(", then " in p for p in seen)


def test_random_plans_are_in_the_plan_language(tiny):
    rng = random.Random(3)
    texts = {tiny.tokenizer.decode(_walk(tiny.tokenizer, tiny.stop_ids, plan_lark(), rng, 640)) for _ in range(40)}
    assert len(texts) > 10 and all(PLAN_RE.fullmatch(t) for t in texts), texts
    c = Constraint(tiny.tokenizer, tiny.stop_ids, plan_lark(), 640)
    with pytest.raises(GrammarError):
        c.consume(tiny.tokenizer.encode("move up 3.0 cm", add_special_tokens=False))


def test_subtask_lists_are_admitted_and_bounded(tiny):
    lists = [["reach the carrot"], ["reach the carrot", "grasp the carrot", "lift it", "move to the pot",
                                    "place it in the pot"]]
    for subtasks in lists:
        c = Constraint(tiny.tokenizer, tiny.stop_ids, subtasks_lark(5), 640)
        c.consume(tiny.tokenizer.encode(T.subtasks_target(subtasks), add_special_tokens=False))
        assert c.accepting
    c = Constraint(tiny.tokenizer, tiny.stop_ids, subtasks_lark(2), 640)
    c.consume(tiny.tokenizer.encode(T.subtasks_target(["a", "b"]), add_special_tokens=False))
    with pytest.raises(GrammarError):  # a third line is one more than the policy keeps
        c.consume(tiny.tokenizer.encode("\n3. c", add_special_tokens=False))
    rng = random.Random(4)
    for _ in range(20):
        text = tiny.tokenizer.decode(_walk(tiny.tokenizer, tiny.stop_ids, subtasks_lark(3), rng, 640, 60))
        items = T.parse_subtasks(text)
        assert 1 <= len(items) <= 3 and text.startswith("1. "), text


def test_a_one_step_bound_compiles_and_admits_one_step_only(tiny):
    """`generation.max_action_steps: 1` is a valid spec value: its grammar must compile and stop after one step."""
    c = Constraint(tiny.tokenizer, tiny.stop_ids, verbalized_lark(0.1, 1), 640)
    step = tiny.tokenizer.encode("move up 1.0 cm", add_special_tokens=False)
    c.consume(step)
    assert c.accepting
    assert c.admits(tiny.tokenizer.encode("; move up 1.0 cm", add_special_tokens=False)) == 0
