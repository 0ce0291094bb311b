"""The knowledge probe: scoring picks the option the model finds most likely (checked against a hand computation on
a constructed case), ties count as wrong, subsets keep every category, and bad probe specs are named precisely."""

from __future__ import annotations

import pytest
import torch

from harness.mechanism.probes import ProbeScores, load_probe_set, score_probe_set, subset
from harness.specs import SpecError, load
from harness.specs.probes import ProbeItem, ProbeSetSpec

PROMPTS = ["move forward", "close the", "Instruction: pick up the"]
OPTIONS = ["gripper", "cm", "carrot", "left 2.0 cm", "spoon"]


def _by_hand(loaded, prompt: str, option: str, separator: str = " ") -> float:
    """Sum of log p(option tokens | <bos> prompt) from one forward pass over the whole text."""
    tok = loaded.tokenizer
    context = [tok.bos_token_id] + tok.encode(prompt, add_special_tokens=False)
    option_ids = tok.encode(separator + option, add_special_tokens=False)
    ids = torch.tensor([context + option_ids])
    with torch.no_grad():
        logp = torch.log_softmax(loaded.model(input_ids=ids).logits[0].float(), dim=-1)
    return sum(float(logp[len(context) - 1 + i, t]) for i, t in enumerate(option_ids))


def test_scoring_picks_the_highest_likelihood_option(tiny_model):
    """Per prompt, the answer is made the model's favourite (right) or its least favourite option (wrong)."""
    items = []
    for i, prompt in enumerate(PROMPTS):
        ranked = sorted(OPTIONS, key=lambda o: _by_hand(tiny_model, prompt, o), reverse=True)
        answer = ranked[0] if i % 2 == 0 else ranked[-1]
        items.append(ProbeItem(id=f"q{i}", lang="en", category="constructed", prompt=prompt, answer=answer,
                               distractors=[o for o in OPTIONS if o != answer]))
    spec = ProbeSetSpec(name="constructed", items=items)
    scores = score_probe_set(tiny_model, spec, batch_items=2, progress=False)  # several batches, padded
    for item, got in zip(items, scores.option_logprobs, strict=True):
        want = [_by_hand(tiny_model, item.prompt, o) for o in item.options]
        assert got == pytest.approx(want, abs=1e-3)
    assert scores.correct == [True, False, True]
    assert scores.accuracy == pytest.approx(2 / 3)
    assert scores.answer_logprob == pytest.approx(sum(s[0] for s in scores.option_logprobs) / 3)
    assert scores.accuracy_by("category") == {"constructed": pytest.approx(2 / 3)}


def test_a_tie_is_wrong():
    item = ProbeItem(id="t", category="c", prompt="p", answer="a", distractors=["b"])
    assert ProbeScores([item], [[-1.0, -1.0]]).correct == [False]
    assert ProbeScores([item], [[-0.5, -1.0]]).correct == [True]


def test_subset_spreads_over_the_whole_set():
    items = [ProbeItem(id=str(i), category=f"c{i // 10}", prompt="p", answer="a", distractors=["b"])
             for i in range(40)]
    picked = subset(items, 8)
    assert len(picked) == 8 and len({it.id for it in picked}) == 8
    assert {it.category for it in picked} == {"c0", "c1", "c2", "c3"}
    assert subset(items, None) == items and subset(items, 100) == items
    with pytest.raises(ValueError, match=">= 1"):
        subset(items, 0)


def test_shipped_probe_is_a_few_hundred_items_in_several_languages():
    spec = load_probe_set("knowledge")
    assert 200 <= len(spec.items) <= 600
    langs = {it.lang for it in spec.items}
    assert {"en", "fr", "de", "es", "it"} <= langs
    assert len({it.category for it in spec.items}) >= 8
    assert all(len(it.options) == 4 for it in spec.items)


@pytest.mark.parametrize("bad, key", [
    ('  - {id: a, category: c, prompt: p, answer: x, distractors: [y]}\n'
     '  - {id: a, category: c, prompt: q, answer: x, distractors: [y]}\n', "items[1].id"),
    ('  - {id: a, category: c, prompt: p, answer: x, distractors: [x, y]}\n', "items[0].distractors"),
    ('  - {id: a, category: c, prompt: p, answer: x, distractors: []}\n', "items[0].distractors"),
    ('  - {id: a, category: c, prompt: "  ", answer: x, distractors: [y]}\n', "items[0].prompt"),
])
def test_bad_probe_specs_name_the_item_and_key(experiments_copy, bad, key):
    path = experiments_copy / "probes" / "broken.yaml"
    path.write_text("items:\n" + bad)
    with pytest.raises(SpecError) as e:
        load("probes/broken")
    assert "broken.yaml" in str(e.value) and key in str(e.value)
