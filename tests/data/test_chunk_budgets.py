"""The jitter threshold on a built D_lan: the card's before/after distributions, and decoding budgets that cover the
99th percentile of steps per chunk and action target tokens (counted with the tiny model's real tokenizer)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace

import numpy as np
import pytest

from harness.actions import merge_deltas
from harness.data.build import BuildConfig, Builder
from harness.data.dlan import read_examples
from harness.data.rules import RulesAnnotator
from harness.specs.model import GenerationSpec


@pytest.fixture(scope="module")
def tiny_tokenizer_dir():
    from harness.models.builtin import builtin_dir

    return builtin_dir("embedded:tiny", 32)


@pytest.fixture(scope="module")
def built(raw_fixture, tiny_tokenizer_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("dlan")
    config = BuildConfig.load("bridge", "rules")
    Builder(raw_fixture, out, config, progress=False).run(tokenizer=tiny_tokenizer_dir)
    return out, config


def _histogram(values) -> str:
    counts = Counter(values)
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts))


def test_card_states_the_threshold_and_both_distributions(built, episodes, tiny_tokenizer_dir):
    out, config = built
    card = (out / "README.md").read_text()
    reversal = config.decomposition.merge.reversal_cm
    assert reversal > 0 and f"`merge.reversal_cm` = {reversal:g} cm" in card
    # the distributions recomputed from the raw episodes, with and without the threshold
    rules = RulesAnnotator(config.decomposition, config.spec.rules)
    lengths = {}
    for r in (0.0, reversal):
        merge = replace(config.decomposition.merge, reversal_cm=r)
        lengths[r] = [len(merge_deltas(e.deltas[s.start : s.end], merge)) for e in episodes for s in rules.segments(e)]
    assert sum(lengths[0.0]) > sum(lengths[reversal]), "the fixture's jitter splits steps without the threshold"
    assert f"| merged steps, histogram | {_histogram(lengths[0.0])} | {_histogram(lengths[reversal])} |" in card
    row = next(line for line in card.splitlines() if line.startswith("| target tokens |"))
    before, after = (cell.strip() for cell in row.split("|")[2:4])
    assert before.startswith("min ") and after.startswith("min ") and before != after
    assert f"counted with Hugging Face tokenizer {tiny_tokenizer_dir}" in card


def test_default_budgets_cover_the_99th_percentile(built, tiny_tokenizer_dir):
    from transformers import AutoTokenizer

    out, _ = built
    actions = [r for r in read_examples(out) if r.stage == "action"]
    steps = [len(json.loads(r.chunk_json)) for r in actions]
    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    tokens = [len(tokenizer(r.target, add_special_tokens=False)["input_ids"]) for r in actions]
    generation = GenerationSpec()
    assert generation.max_action_steps >= np.percentile(steps, 99)
    assert generation.action.max_new_tokens >= np.percentile(tokens, 99) + 1  # + the end-of-turn token
    assert "both cover the 99th percentile" in (out / "README.md").read_text()
