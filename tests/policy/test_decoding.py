"""The optimized decode loop against plain `model.generate`: same text under greedy decoding, with the prefix
cache reused; constrained output always parses; jump-forward and cache reuse save forward passes."""

from __future__ import annotations

import pytest

from harness.actions import LeastLikelyCodec, VerbalizedCodec
from harness.data import templates as T
from harness.policy.decoding import FastGenerator, ForwardCounter, NaiveGenerator, sample_token
from harness.policy.grammar import least_likely_lark, verbalized_lark
from harness.specs.model import StageSampling
from tests.policy.conftest import INSTRUCTION, PLAN, SUBTASK, TARGET, image

GREEDY = StageSampling(0.0, 1.0, 24)
PROMPTS = [T.subtasks_prompt(INSTRUCTION), T.plan_prompt(INSTRUCTION, SUBTASK),
           T.action_prompt(INSTRUCTION, SUBTASK, PLAN), T.plan_prompt(INSTRUCTION, SUBTASK)]


@pytest.mark.parametrize("budget", [6, 24])  # 6: the cache is cropped; 24: the window fills, the prompt is copied
def test_greedy_equals_generate_across_stages_with_reuse(tiny, budget):
    sampling = StageSampling(0.0, 1.0, budget)
    fast, naive = FastGenerator(tiny), NaiveGenerator(tiny)
    results = []
    for prompt in PROMPTS:
        want = naive.generate(prompt, [image()], sampling, seed=0)
        got = fast.generate(prompt, [image()], sampling, seed=0)
        assert got.text == want.text
        assert got.prefill_tokens + got.reused_tokens == want.prefill_tokens
        results.append(got)
    assert results[0].reused_tokens == 0
    assert all(r.reused_tokens > 0 for r in results[1:]), "the image+instruction prefix is reused"
    assert results[3].prefill_tokens < results[1].prefill_tokens


def test_a_new_image_is_never_served_from_the_cache(tiny):
    fast, naive = FastGenerator(tiny), NaiveGenerator(tiny)
    fast.generate(PROMPTS[1], [image((10, 200, 10))], GREEDY, seed=0)
    got = fast.generate(PROMPTS[1], [image((200, 10, 10))], GREEDY, seed=0)
    assert got.reused_tokens == 0
    assert got.text == naive.generate(PROMPTS[1], [image((200, 10, 10))], GREEDY, seed=0).text


def test_counts_agree_with_the_decoder_hook(tiny):
    fast = FastGenerator(tiny)
    with ForwardCounter(tiny) as counter:
        a = fast.generate(PROMPTS[0], [image()], GREEDY, seed=0)
        b = fast.generate(PROMPTS[1], [image()], GREEDY, seed=0)
    assert counter.calls == a.forward_passes + b.forward_passes
    fed_back = (a.generated_tokens - 1) + (b.generated_tokens - 1)  # the last token is never fed
    assert counter.tokens == a.prefill_tokens + b.prefill_tokens + fed_back


def test_sampling_is_seeded(tiny):
    hot = StageSampling(1.5, 0.95, 16)
    fast = FastGenerator(tiny)
    a = fast.generate(PROMPTS[2], [image()], hot, seed=7).text
    b = FastGenerator(tiny).generate(PROMPTS[2], [image()], hot, seed=7).text
    c = fast.generate(PROMPTS[2], [image()], hot, seed=8).text
    assert a == b and a != c


def test_top_p_keeps_the_nucleus_only():
    import torch

    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    gen = torch.Generator().manual_seed(0)
    seen = {sample_token(logits, 1.0, 0.7, gen) for _ in range(300)}
    assert seen == {0, 1}  # 0.5 < 0.7 keeps the second token; 0.8 >= 0.7 drops the rest (as transformers does)
    allowed = torch.tensor([2, 3])
    assert {sample_token(logits, 1.0, 1.0, gen, allowed) for _ in range(100)} == {2, 3}
    assert sample_token(logits, 0.0, 1.0, None, allowed) == 2


def test_constrained_output_always_parses_on_a_random_model(tiny):
    hot = StageSampling(1.5, 1.0, 64)
    fast = FastGenerator(tiny)
    codec = VerbalizedCodec(0.1)
    grammar = verbalized_lark(0.1, 8)
    for seed in range(12):
        res = fast.generate(PROMPTS[2], [image()], hot, seed=seed, grammar=grammar)
        assert codec.decode(res.text), res.text  # raises if malformed
    tokens = tiny.least_likely_tokens()
    ll = LeastLikelyCodec(tokens)
    for seed in range(6):
        res = fast.generate(PROMPTS[2], [image()], hot, seed=seed, grammar=least_likely_lark(tokens.ids))
        assert ll.decode_ids(res.ids) == ll.decode(res.text)


def test_a_short_budget_keeps_only_complete_steps(tiny):
    fast = FastGenerator(tiny)
    res = fast.generate(PROMPTS[2], [image()], StageSampling(1.5, 1.0, 40), seed=3, grammar=verbalized_lark(0.1, 8))
    assert VerbalizedCodec(0.1).decode(res.text)
    assert res.truncated or len(res.ids) < 40


def test_constrained_equals_unconstrained_when_the_model_follows_the_grammar(trained_tiny):
    sampling = StageSampling(0.0, 1.0, 40)
    fast = FastGenerator(trained_tiny)
    free = fast.generate(PROMPTS[2], [image()], sampling, seed=0)
    fast.reset()
    constrained = fast.generate(PROMPTS[2], [image()], sampling, seed=0, grammar=verbalized_lark(0.1, 8))
    assert free.text == TARGET and constrained.text == TARGET
    assert constrained.forced_tokens > 0
    assert constrained.forward_passes < free.forward_passes  # forced tokens ride along; no pass for the stop token
    naive = NaiveGenerator(trained_tiny).generate(PROMPTS[2], [image()], sampling, seed=0)
    assert naive.text == TARGET and naive.forward_passes == free.forward_passes
