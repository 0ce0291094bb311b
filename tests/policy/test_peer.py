"""The benchmark's peer: `generate` + xgrammar's logits processor + a reused prefix cache, on the tiny model."""

from __future__ import annotations

import pytest

from harness.data import templates as T
from harness.policy.decoding import ForwardCounter, nucleus
from harness.policy.grammar import plan_lark, subtasks_lark, verbalized_lark
from harness.specs.model import StageSampling
from tests.policy.conftest import INSTRUCTION, PLAN, SUBTASK, image

pytest.importorskip("xgrammar")  # the `peer` extra (make setup-all installs it)

from harness.policy.peer import PeerGenerator, common_prefix, shared_prefix_text  # noqa: E402

PROMPTS = [T.subtasks_prompt(INSTRUCTION), T.plan_prompt(INSTRUCTION, SUBTASK), T.action_prompt(INSTRUCTION, SUBTASK,
                                                                                                  PLAN)]


def test_the_shared_prefix_is_the_instruction_line():
    assert {shared_prefix_text(p) for p in PROMPTS} == {f"Instruction: {INSTRUCTION}\n"}
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2 and common_prefix([], [1]) == 0


def test_greedy_text_equals_plain_generate_and_the_prefix_is_prefilled_once_per_image(tiny):
    """Reusing the cached image+instruction prefix changes nothing but the work: the same greedy text as a plain
    `generate` on the whole prompt; the second and third prompt prefill only their own suffix."""
    peer = PeerGenerator(tiny)
    greedy = StageSampling(max_new_tokens=12, temperature=0.0, top_p=1.0)
    results = [peer.generate(p, [image()], greedy, 0) for p in PROMPTS]
    for p, r in zip(PROMPTS, results, strict=True):
        assert r.text == tiny.generate_prompt(p, [image()], max_new_tokens=12)
    first, second, third = results
    assert first.reused_tokens == 0 and second.reused_tokens > 0 and third.reused_tokens == second.reused_tokens
    assert first.forward_passes == 1 + 12  # the prefix, then generate's 12 passes (one per new token)
    assert second.forward_passes == 12 and second.decode_tokens == 11
    # a new image is a new prefix
    other = peer.generate(PROMPTS[1], [image((10, 20, 30))], greedy, 0)
    assert other.reused_tokens == 0 and other.forward_passes == 13


@pytest.mark.parametrize(("temperature", "top_p", "top_k"), [(0.7, 0.8, 3), (1.3, 0.9, 0), (1.0, 1.0, 5)])
def test_each_token_is_drawn_from_our_nucleus_over_the_allowed_tokens(tiny, temperature, top_p, top_k):
    """xgrammar's mask applies before transformers' temperature / top-k / top-p warpers, so at every step the
    distribution `generate` samples from is our `nucleus` over the tokens the grammar allows there (xgrammar's own
    matcher, replayed over the text, says which: its allowed sets can differ from llguidance's, e.g. xgrammar also
    allows a non-canonical split of a forced word)."""
    import torch
    import xgrammar as xgr
    from xgrammar.testing import bitmask_to_bool_mask

    peer = PeerGenerator(tiny)
    sampling = StageSampling(max_new_tokens=30, temperature=temperature, top_p=top_p, top_k=top_k)
    checked = 0
    for lark, prompt in [(verbalized_lark(), PROMPTS[2]), (plan_lark(), PROMPTS[1]), (subtasks_lark(2), PROMPTS[0])]:
        out, ids, _ = peer.run(prompt, [image()], sampling, 7, lark, output_scores=True, output_logits=True,
                               return_dict_in_generate=True)
        matcher = xgr.GrammarMatcher(peer.compiled(lark))
        bitmask = xgr.allocate_token_bitmask(1, peer.vocab_size)
        for step, token in enumerate(out.sequences[0, len(ids):].tolist()):
            matcher.fill_next_token_bitmask(bitmask)
            allowed = bitmask_to_bool_mask(bitmask, peer.vocab_size)[0].nonzero().flatten()
            weights, where = nucleus(out.logits[step][0, allowed], temperature, top_p, top_k)
            expected = torch.zeros(peer.vocab_size, dtype=torch.float64)
            expected[allowed[where]] = (weights / weights.sum()).double()
            got = torch.softmax(out.scores[step][0].double(), dim=-1)
            assert torch.allclose(got, expected, atol=1e-5), (lark, step)
            assert matcher.accept_token(token)
            checked += 1
    assert checked >= 10


def test_the_grammar_ends_the_text_with_a_sampled_stop_token(tiny):
    """A constrained plan always parses; the stop token the grammar leaves as the only choice costs one pass."""
    from tests.policy.conftest import PLAN_RE

    peer = PeerGenerator(tiny)
    counter = ForwardCounter(tiny)
    sampling = StageSampling(max_new_tokens=40, temperature=1.0, top_p=0.95)
    for seed in range(3):
        with counter:
            r = peer.generate(PROMPTS[1], [image()], sampling, seed, grammar=plan_lark())
        assert PLAN_RE.fullmatch(r.text), r.text
        assert not r.truncated and r.generated_tokens == len(r.ids) + 1  # + the stop token
        assert counter.calls == r.forward_passes


def test_a_grammar_xgrammar_cannot_read_is_a_grammar_error(tiny):
    from harness.policy.grammar import GrammarError

    with pytest.raises(GrammarError, match="xgrammar cannot read"):
        PeerGenerator(tiny).compiled("start: undefined_rule")


def test_a_budget_cut_keeps_the_complete_steps_the_grammar_accepts(tiny):
    """`generate` does not know the grammar: a budget that ends an action chunk mid-step leaves a cut text; the peer
    keeps the longest prefix xgrammar's matcher calls complete, so the chunk parses (as the optimized decoder's)."""
    from harness.actions import VerbalizedCodec

    peer = PeerGenerator(tiny)
    codec = VerbalizedCodec()
    trimmed = 0
    for seed in range(8):
        r = peer.generate(PROMPTS[2], [image()], StageSampling(max_new_tokens=14, temperature=1.0, top_p=1.0), seed,
                          grammar=verbalized_lark())
        if not r.truncated:
            continue
        assert r.generated_tokens == 14
        trimmed += len(r.ids) < 14
        if r.ids:
            assert codec.decode(r.text)  # parses: complete steps only
    assert trimmed > 0  # some budget cuts fell mid-step
    assert peer.complete_prefix(verbalized_lark(), []) == 0
