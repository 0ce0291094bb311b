"""The hierarchical policy on the tiny model: stages, texts and stats per cycle, bounded retries, and the wiring
the trial runner and the factory use."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from harness.actions import ActionParseError
from harness.data import templates as T
from harness.models.codec import action_codec
from harness.models.loaded import LoadedModel
from harness.policy.base import Decision, Observation
from harness.policy.decoding import NaiveGenerator, StageResult
from harness.policy.factory import make_policy
from harness.policy.hierarchical import VLM2VLAPolicy, to_image
from tests.policy.conftest import INSTRUCTION, PLAN_RE


def _small(tiny, **generation) -> LoadedModel:
    """The tiny model with short budgets (the random model never stops by itself)."""
    spec = copy.deepcopy(tiny.spec)
    spec.generation.subtasks.max_new_tokens = 12
    spec.generation.plan.max_new_tokens = 6
    spec.generation.action.max_new_tokens = 48
    for k, v in generation.items():
        setattr(spec.generation, k, v)
    return LoadedModel(spec=spec, model=tiny.model, processor=tiny.processor, tokenizer=tiny.tokenizer,
                       device=tiny.device, base_dir=tiny.base_dir)


def _obs(value: int = 120) -> Observation:
    rng = np.random.default_rng(value)
    return Observation(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))


def test_cycle_outputs_texts_stats_and_a_parsed_chunk(tiny):
    policy = VLM2VLAPolicy(_small(tiny))
    subtasks = policy.start(INSTRUCTION, _obs())
    assert subtasks and policy.current_subtask == subtasks[0]
    out = policy.act(_obs())
    assert out.chunk is not None and out.parse_error is None
    assert set(out.texts) == {"subtasks", "plan", "action"} and out.action_text == out.texts["action"]
    assert out.stats["forward_passes"] == out.stats["plan_forward_passes"] + out.stats["action_forward_passes"]
    assert out.stats["subtasks_prefill_tokens"] > 0 and out.stats["action_reused_tokens"] > 0
    assert out.stats["constrained"] == 1.0 and out.stats["attempt"] == 1.0
    assert out.plan == "" or PLAN_RE.fullmatch(out.plan), out.plan  # the plan language (truncated: cut to a whole one)
    again = policy.act(_obs())
    assert "subtasks" not in again.texts, "the sub-task text is reported once, with the first cycle"


def test_unconstrained_malformed_text_moves_nothing(tiny):
    policy = VLM2VLAPolicy(_small(tiny, constrained_actions=False))
    policy.start(INSTRUCTION, _obs())
    out = policy.act(_obs())
    assert out.stats["constrained"] == 0.0
    with pytest.raises(ActionParseError):
        action_codec(tiny).decode(out.action_text)
    assert out.chunk is None and "cannot parse" in out.parse_error


def test_retries_are_bounded_per_subtask(tiny):
    loaded = _small(tiny)
    loaded.spec.policy.max_retries_per_subtask = 2
    policy = VLM2VLAPolicy(loaded)
    policy.subtasks, policy._index = ["a", "b"], 0  # a known plan
    for _ in range(2):
        policy.advance(Decision("retry", "not yet"))
        assert policy.current_subtask == "a"
    policy.advance(Decision("retry", "not yet"))
    assert policy.current_subtask == "b" and policy.next_subtask is None
    policy.instruction = INSTRUCTION
    out = policy.act(_obs())
    assert out.stats["retries_exhausted"] == 1.0 and "given up after 2 retries" in out.texts["note"]
    policy.advance(Decision("proceed"))
    assert policy.done
    with pytest.raises(RuntimeError):
        policy.act(_obs())


def test_same_seeds_same_texts_and_ood_temperature(tiny):
    loaded = _small(tiny)
    a, b = VLM2VLAPolicy(loaded), VLM2VLAPolicy(loaded)
    assert a.start(INSTRUCTION, _obs()) == b.start(INSTRUCTION, _obs())
    assert a.act(_obs()).texts == b.act(_obs()).texts
    cold = _small(tiny)
    cold.spec.generation.subtasks.temperature = 5.0  # in distribution: would sample wildly
    cold.spec.generation.subtasks_ood_temperature = 0.0  # out of distribution: greedy
    policy = VLM2VLAPolicy(cold, NaiveGenerator(cold), constrained=False)
    greedy = cold.generate_prompt(T.subtasks_prompt(INSTRUCTION), [to_image(_obs())], max_new_tokens=12)
    assert policy.start(INSTRUCTION, _obs(), out_of_distribution=True) == (T.parse_subtasks(greedy)
                                                                           or [INSTRUCTION])


def test_factory_builds_the_gemma3_policy(tiny):
    policy = make_policy(tiny.spec, loaded=_small(tiny))
    assert isinstance(policy, VLM2VLAPolicy) and policy.name == "tiny" and policy.grammar is not None


def test_a_cycle_uses_no_deprecated_cache_name(tiny, monkeypatch):
    """transformers 5.24 deprecates `past_key_values=` (a FutureWarning on every forward; removed in 5.40) and the
    output attribute of that name (emulated here as already removed)."""
    import warnings

    from transformers.utils.generic import ModelOutput

    monkeypatch.delattr(ModelOutput, "past_key_values")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*past_key_values.*deprecated", category=FutureWarning)
        policy = VLM2VLAPolicy(_small(tiny))
        policy.start(INSTRUCTION, _obs())
        policy.act(_obs())
        policy.act(_obs())  # the cache of the first cycle is reused


class _Scripted:
    """A stage generator that writes given texts (the policy's own interface, not a model)."""

    name = "scripted"

    def __init__(self, action: str, truncated: bool = False):
        self.action, self.truncated = action, truncated

    def generate(self, prompt, images, sampling, seed, grammar=None) -> StageResult:
        if prompt.stage == "action":
            return StageResult(text=self.action, ids=[], truncated=self.truncated)
        return StageResult(text="1. reach the carrot" if prompt.stage == "subtasks" else "move down", ids=[])


@pytest.mark.parametrize(("steps", "bound", "budget_ran_out", "key"), [
    (2, 2, False, "generation.max_action_steps"),  # at the grammar's bound: it allowed no further step
    (1, 8, True, "generation.action.max_new_tokens"),  # the token budget ran out first
    (2, 8, False, None),  # a short chunk the model ended itself
])
def test_a_chunk_a_bound_ended_is_counted_and_logged(tiny, caplog, steps, bound, budget_ran_out, key):
    text = "; ".join(["move forward 1.0 cm"] * steps)
    policy = VLM2VLAPolicy(_small(tiny, max_action_steps=bound), _Scripted(text, budget_ran_out))
    policy.start(INSTRUCTION, _obs())
    with caplog.at_level("WARNING", logger="harness.policy.hierarchical"):
        out = policy.act(_obs())
    assert len(out.chunk) == steps
    assert out.stats["action_truncated"] == float(key is not None)
    warned = [r.getMessage() for r in caplog.records if "action chunk cut" in r.getMessage()]
    assert (warned and key in warned[0]) if key else not warned, warned


def test_a_chunk_forced_to_the_step_bound_is_truncated(tiny):
    """On the real decoder: with a one-step bound every constrained chunk ends at the bound."""
    policy = VLM2VLAPolicy(_small(tiny, max_action_steps=1))
    policy.start(INSTRUCTION, _obs())
    out = policy.act(_obs())
    assert len(out.chunk) == 1 and out.stats["action_truncated"] == 1.0
