"""The optimized decode loop against plain `model.generate`: same text under greedy decoding, with the prefix
cache reused; constrained output always parses; jump-forward, cache reuse and drafts save forward passes; drafts
are accepted exactly as sampling would; restricted logits equal the full projection's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.actions import LeastLikelyCodec, VerbalizedCodec
from harness.data import templates as T
from harness.models.least_likely import least_likely_tokens
from harness.policy.decoding import (
    Draws,
    FastGenerator,
    ForwardCounter,
    NaiveGenerator,
    draw,
    lookup_draft,
    nucleus,
    verify_draft,
)
from harness.policy.grammar import least_likely_lark, plan_lark, subtasks_lark, verbalized_lark
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


@pytest.mark.parametrize("drafts", [0, 8])
def test_counts_agree_with_the_decoder_hook(tiny, drafts):
    fast = FastGenerator(tiny, draft_tokens=drafts)
    with ForwardCounter(tiny) as counter:
        a = fast.generate(PROMPTS[0], [image()], GREEDY, seed=0)
        b = fast.generate(PROMPTS[1], [image()], GREEDY, seed=0)
    assert counter.calls == a.forward_passes + b.forward_passes
    assert counter.tokens == a.prefill_tokens + b.prefill_tokens + a.decode_tokens + b.decode_tokens
    if drafts == 0:
        assert a.draft_tokens == b.draft_tokens == 0
        assert a.decode_tokens + b.decode_tokens == (a.generated_tokens - 1) + (b.generated_tokens - 1)  # last unfed
    else:
        assert a.draft_tokens + b.draft_tokens > 0  # the random model repeats itself; lookup finds drafts
        assert a.accepted_tokens <= a.draft_tokens and b.accepted_tokens <= b.draft_tokens


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
    draws = Draws.seeded(0)
    seen = {draw(logits, StageSampling(1.0, 0.7), draws) for _ in range(300)}
    assert seen == {0, 1}  # 0.5 < 0.7 keeps the second token; 0.8 >= 0.7 drops the rest (as transformers does)
    allowed = torch.tensor([2, 3])  # scores of the allowed ids only: positions index into them
    assert {int(allowed[draw(logits[allowed], StageSampling(1.0, 1.0), draws)]) for _ in range(100)} == {2, 3}
    assert int(allowed[draw(logits[allowed], GREEDY, None)]) == 2


def test_constrained_output_always_parses_on_a_random_model(tiny):
    hot = StageSampling(1.5, 1.0, 64)
    fast = FastGenerator(tiny)
    codec = VerbalizedCodec(0.1)
    grammar = verbalized_lark(0.1, 8)
    for seed in range(12):
        res = fast.generate(PROMPTS[2], [image()], hot, seed=seed, grammar=grammar)
        assert codec.decode(res.text), res.text  # raises if malformed
    tokens = least_likely_tokens(tiny)
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
    fast = FastGenerator(trained_tiny, draft_tokens=0)  # jump-forward alone (drafts: the test below)
    free = fast.generate(PROMPTS[2], [image()], sampling, seed=0)
    fast.reset()
    constrained = fast.generate(PROMPTS[2], [image()], sampling, seed=0, grammar=verbalized_lark(0.1, 8))
    assert free.text == TARGET and constrained.text == TARGET
    assert constrained.forced_tokens > 0
    assert constrained.forward_passes < free.forward_passes  # forced tokens ride along; no pass for the stop token
    naive = NaiveGenerator(trained_tiny).generate(PROMPTS[2], [image()], sampling, seed=0)
    assert naive.text == TARGET and naive.forward_passes == free.forward_passes


@pytest.mark.parametrize("grammar", [None, verbalized_lark(0.1, 8)])
def test_drafts_change_nothing_under_greedy_but_the_pass_count(trained_tiny, grammar):
    sampling = StageSampling(0.0, 1.0, 40)
    plain = FastGenerator(trained_tiny, draft_tokens=0).generate(PROMPTS[2], [image()], sampling, 0, grammar)
    drafted = FastGenerator(trained_tiny, draft_tokens=8).generate(PROMPTS[2], [image()], sampling, 0, grammar)
    assert plain.text == drafted.text == TARGET
    assert drafted.accepted_tokens > 0  # "move", " cm", ", move" occurred before: copied, verified, accepted
    assert drafted.forward_passes < plain.forward_passes


def test_restricted_logits_equal_the_full_projection(tiny):
    import torch

    fast = FastGenerator(tiny)
    head = tiny.base_model().get_output_embeddings()
    hidden = torch.randn(head.weight.shape[1])
    allowed = torch.tensor([3, 17, 40, 41, 200])
    with torch.inference_mode():
        full = head(hidden)
        torch.testing.assert_close(fast._scores(hidden, allowed), full.index_select(0, allowed))
        torch.testing.assert_close(fast._scores(hidden, None), full)


def test_lookup_draft_copies_what_followed_the_latest_match():
    assert lookup_draft([5, 6, 7, 8, 1, 5, 6], k=3) == [7, 8, 1]  # "5 6" seen before: what came next
    assert lookup_draft([5, 6, 9, 5, 6, 7, 2, 5, 6], k=2) == [7, 2]  # the most recent occurrence wins
    assert lookup_draft([1, 2, 3, 9, 2, 3], k=8) == [9, 2, 3]  # the longest suffix ("2 3") decides; cut at the end
    assert lookup_draft([1, 2, 3, 4], k=4) == []  # nothing repeats


@pytest.mark.parametrize("proposed", [0, 2, 3, None])  # likely, unlikely, outside the nucleus, not allowed
def test_verified_drafts_are_distributed_as_sampling(proposed):
    """Speculative acceptance is exact: whatever the draft, the outcome has the nucleus distribution."""
    import torch

    scores = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    weights, where = nucleus(scores, 1.0, 0.9)
    want = torch.zeros(4).index_add_(0, where, weights / weights.sum())
    assert float(want[3]) == 0.0  # 0.95 of the mass is before it: outside the nucleus
    draws, sampling = Draws.seeded(0), StageSampling(1.0, 0.9)
    n = 6000
    counts = torch.zeros(4)
    accepted = 0
    for _ in range(n):
        ok, pick = verify_draft(scores, sampling, draws, proposed)
        counts[pick] += 1
        accepted += ok
    assert torch.allclose(counts / n, want, atol=0.02), (counts / n, want)
    if proposed is not None:
        assert abs(accepted / n - float(want[proposed])) < 0.02
    greedy_ok, greedy_pick = verify_draft(scores, GREEDY, None, proposed)
    assert greedy_pick == 0 and greedy_ok == (proposed == 0)


# ---------------------------------------------------------------------------------------------------- draws
class _AcceleratorGenerator:
    """A generator that reports an accelerator device (as `torch.Generator(device="cuda")` does), drawing from a CPU
    generator underneath so the test runs without one."""

    def __init__(self, seed: int):
        import torch

        self.device = torch.device("cuda", 0)
        self.cpu = torch.Generator().manual_seed(seed)


def _emulate_the_device_rule(monkeypatch):
    """torch.rand / torch.multinomial with PyTorch's rule: the generator's device must be the device of the tensor
    drawn. A tensor made without `device=` is on the CPU; the decoder's weights come from the model, so here they are
    on the (emulated) accelerator."""
    import torch

    rand, multinomial = torch.rand, torch.multinomial

    def strict_rand(*size, generator=None, device=None, **kw):
        where = torch.device(device if device is not None else "cpu")
        if generator is not None and where != generator.device:
            raise RuntimeError(f"Expected a '{where.type}' device type for generator but found "
                               f"'{generator.device.type}'")
        return rand(*size, generator=getattr(generator, "cpu", generator), **kw)

    def strict_multinomial(weights, n, *args, generator=None, **kw):
        return multinomial(weights, n, *args, generator=getattr(generator, "cpu", generator), **kw)

    monkeypatch.setattr(torch, "rand", strict_rand)
    monkeypatch.setattr(torch, "multinomial", strict_multinomial)


@pytest.mark.parametrize("proposed", [0, 2, None])  # accepted or rejected (a uniform, then a draw), no draft
def test_every_draw_is_made_on_the_generators_device(monkeypatch, proposed):
    """A sampled stage with drafts on CUDA: the acceptance test's uniform must be drawn on the generator's device
    (a CPU `torch.rand` with a CUDA generator raises in PyTorch)."""
    import torch

    _emulate_the_device_rule(monkeypatch)
    scores = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    draws = Draws(_AcceleratorGenerator(0))
    hot = StageSampling(1.0, 0.9)
    picks = {verify_draft(scores, hot, draws, proposed)[1] for _ in range(200)} | {draw(scores, hot, draws)}
    assert picks <= {0, 1, 2}


def test_same_seed_same_draws_as_a_plain_generator():
    """`Draws` draws exactly what the generator it wraps would (same-seed outputs did not change with it)."""
    import torch

    g = torch.Generator().manual_seed(5)
    want = [float(torch.rand((), generator=g)) for _ in range(3)] + [int(torch.multinomial(torch.ones(7), 1,
                                                                                            generator=g))]
    d = Draws.seeded(5)
    assert [d.uniform() for _ in range(3)] + [d.categorical(torch.ones(7))] == want


def test_no_policy_module_draws_randomness_outside_draws():
    """Structural: torch's random functions are called only inside `Draws`, so the device rule lives in one place."""
    import ast
    from pathlib import Path

    import harness.policy

    random_fns = {"rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm", "multinomial",
                  "bernoulli", "normal", "poisson", "exponential_", "uniform_", "Generator"}
    offenders = []
    for path in sorted(Path(harness.policy.__file__).parent.glob("*.py")):
        tree = ast.parse(path.read_text())
        allowed = {id(n) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and c.name == "Draws"
                   for n in ast.walk(c)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and id(node) not in allowed:
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if name in random_fns:
                    offenders.append(f"{path.name}:{node.lineno} {name}")
    assert not offenders, f"random draws outside decoding.Draws: {offenders}"


# ---------------------------------------------------------------------------------------------------- top-k
@pytest.mark.parametrize(("top_k", "top_p"), [(3, 1.0), (3, 0.6), (40, 0.9), (0, 0.9), (0, 1.0)])
def test_nucleus_equals_transformers_warpers(top_k, top_p):
    """Temperature, then top-k, then top-p, as `generate` applies its warpers: same tokens kept, same probabilities."""
    import torch
    from transformers.generation.logits_process import (
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    torch.manual_seed(0)
    scores = torch.randn(500) * 3
    warped = TemperatureLogitsWarper(0.7)(None, scores[None].clone())
    if top_k:
        warped = TopKLogitsWarper(top_k)(None, warped)
    if top_p < 1.0:
        warped = TopPLogitsWarper(top_p)(None, warped)
    want = torch.softmax(warped[0], -1)
    weights, where = nucleus(scores, 0.7, top_p, top_k)
    got = torch.zeros(500).index_add_(0, where, weights / weights.sum())
    assert set(where.tolist()) == set(torch.nonzero(want).flatten().tolist())
    torch.testing.assert_close(got, want)


def test_top_k_bounds_what_the_fast_decoder_samples(tiny):
    fast = FastGenerator(tiny, draft_tokens=0)
    firsts = {fast.generate(PROMPTS[1], [image()], StageSampling(2.0, 1.0, 1, top_k=2), seed).ids[0]
              for seed in range(30)}
    wide = {fast.generate(PROMPTS[1], [image()], StageSampling(2.0, 1.0, 1), seed).ids[0] for seed in range(30)}
    assert len(firsts) == 2 and len(wide) > 2


# ---------------------------------------------------------------------------------------------------- golden
GOLDEN = Path(__file__).with_name("decoding_golden.json")
GOLDEN_FIELDS = ("ids", "forward_passes", "prefill_tokens", "reused_tokens", "generated_tokens", "forced_tokens",
                 "truncated", "draft_tokens", "accepted_tokens", "decode_tokens")


def golden_runs(loaded) -> dict[str, list[dict]]:
    """Sampled, drafted, constrained and truncated stages on the CPU tiny model, one generator per case so that the
    cache is reused across its stages: every id and counter the fast decoder produces. Recorded once into
    `decoding_golden.json` (`json.dumps(golden_runs(load_model("tiny", device="cpu")))`) before the decode loop was
    split into steps; any later change to the loop must reproduce it."""
    hot, warm, cool = StageSampling(1.5, 0.95, 48), StageSampling(1.0, 0.9, 24, top_k=5), StageSampling(0.3, 0.95, 48)
    verbalized, least_likely = verbalized_lark(0.1, 8), least_likely_lark(list(range(600, 610)))
    cases = {
        "stages-hot-drafts": (FastGenerator(loaded), [(p, hot, None) for p in PROMPTS]),
        "stages-cool-drafts": (FastGenerator(loaded), [(p, cool, None) for p in PROMPTS]),
        "verbalized-cool": (FastGenerator(loaded), [(PROMPTS[2], cool, verbalized), (PROMPTS[2], GREEDY, verbalized)]),
        "verbalized-hot": (FastGenerator(loaded), [(PROMPTS[2], hot, verbalized)]),
        "verbalized-short-budget": (FastGenerator(loaded), [(PROMPTS[2], StageSampling(1.5, 1.0, 30), verbalized)]),
        "least-likely": (FastGenerator(loaded), [(PROMPTS[2], hot, least_likely)]),
        "plan-top-k": (FastGenerator(loaded), [(PROMPTS[1], warm, plan_lark()), (PROMPTS[3], warm, None)]),
        "subtasks-greedy": (FastGenerator(loaded), [(PROMPTS[0], GREEDY, subtasks_lark(4))]),
        "no-drafts-no-jump": (FastGenerator(loaded, draft_tokens=0, jump_forward=False, restrict_logits=False),
                              [(PROMPTS[2], hot, verbalized), (PROMPTS[1], hot, None)]),
    }
    out: dict[str, list[dict]] = {}
    for name, (fast, stages) in cases.items():
        out[name] = [{k: getattr(r, k) for k in GOLDEN_FIELDS}
                     for seed in (0, 1, 2)
                     for r in (fast.generate(p, [image()], s, seed=seed, grammar=g) for p, s, g in stages)]
    return out


def test_decoder_reproduces_its_recorded_outputs():
    """Bit-identical outputs for the same seeds: ids and every counter, against the recording."""
    from harness.models import load_model

    want = json.loads(GOLDEN.read_text())
    got = golden_runs(load_model("tiny", device="cpu"))
    for name in want:
        assert got[name] == want[name], name
