"""Retained knowledge: a probe set (`experiments/probes/`) scored by the model's own likelihood, no judge.

Each option is written after the item's prompt (plain text after <bos>, no chat turn: the probe asks what the
language model knows, not how it follows the chat format it is fine-tuned in) and scored by the sum of its tokens'
log-probabilities; an item is right when the answer scores strictly higher than every distractor (a tie is wrong).
Prompt and option are tokenized separately, so the option's tokens are exactly the ones scored. The prompt is run
once per item and its KV cache shared by the options (tested equal to one full forward pass per option).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.mechanism.scoring import token_logprobs
from harness.models.loaded import IGNORE_INDEX
from harness.specs import load
from harness.specs.probes import ProbeItem, ProbeSetSpec

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel


def load_probe_set(name: str) -> ProbeSetSpec:
    """A probe spec by name (`experiments/probes/<name>.yaml`) or path."""
    return load(name, "probes")


def subset(items: Sequence[ProbeItem], limit: int | None) -> list[ProbeItem]:
    """`limit` items spread evenly over the set (every category keeps its share), in set order; all when None."""
    items = list(items)
    if limit is None or limit >= len(items):
        return items
    if limit < 1:
        raise ValueError(f"probe limit must be >= 1, got {limit}")
    return [items[(i * len(items)) // limit] for i in range(limit)]


def chance_accuracy(items: Sequence[ProbeItem]) -> float:
    """The accuracy of guessing uniformly among each item's options (what a model with no knowledge scores)."""
    return sum(1 / len(it.options) for it in items) / len(items) if items else float("nan")


@dataclass
class ProbeScores:
    items: list[ProbeItem]
    option_logprobs: list[list[float]]  # per item, per option (answer first), summed over the option's tokens

    @property
    def correct(self) -> list[bool]:
        return [scores[0] > max(scores[1:]) for scores in self.option_logprobs]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.items)

    @property
    def answer_logprob(self) -> float:
        """Mean log-probability of the right answer (nats): moves before accuracy does."""
        return sum(s[0] for s in self.option_logprobs) / len(self.items)

    def accuracy_by(self, field: str) -> dict[str, float]:
        """Accuracy per value of an item field (`lang`, `category`)."""
        groups: dict[str, list[bool]] = defaultdict(list)
        for item, ok in zip(self.items, self.correct, strict=True):
            groups[getattr(item, field)].append(ok)
        return {k: sum(v) / len(v) for k, v in sorted(groups.items())}


def _encode(tokenizer: Any, spec: ProbeSetSpec, items: Sequence[ProbeItem]) -> list[tuple[list[int], list[list[int]]]]:
    """Per item: the context ids (<bos> + prompt) and each option's ids (separator + option, tokenized alone)."""
    bos = [int(tokenizer.bos_token_id)] if tokenizer.bos_token_id is not None else []
    out = []
    for item in items:
        context = bos + list(tokenizer.encode(item.prompt, add_special_tokens=False))
        options = [list(tokenizer.encode(spec.separator + o, add_special_tokens=False)) for o in item.options]
        if len(context) < 2 or not all(options):
            raise ValueError(f"probe {spec.name!r} item {item.id!r}: the prompt and every option need tokens")
        out.append((context, options))
    return out


def _score_batch(model: Any, encoded: Sequence[tuple[list[int], list[list[int]]]], pad: int) -> list[list[float]]:
    """Option log-probabilities of a few items: every context once (its KV cache is then shared by its options),
    then the options grouped by token count, so no option pays for another's length or padding."""
    import copy

    import torch

    device = next(model.parameters()).device
    heads = [context[:-1] for context, _ in encoded]  # the last context token is fed with each option
    width = max(len(h) for h in heads)
    head_ids = torch.full((len(heads), width), pad, dtype=torch.long)
    head_mask = torch.zeros((len(heads), width), dtype=torch.long)
    for b, h in enumerate(heads):
        head_ids[b, :len(h)] = torch.tensor(h)
        head_mask[b, :len(h)] = 1
    with torch.inference_mode():
        cache = model(input_ids=head_ids.to(device), attention_mask=head_mask.to(device), use_cache=True,
                      logits_to_keep=1).cache
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)  # option length -> (item, option) pairs
    for b, (_, options) in enumerate(encoded):
        for j, option in enumerate(options):
            groups[len(option)].append((b, j))
    scores = [[0.0] * len(options) for _, options in encoded]
    for length, pairs in sorted(groups.items()):
        rows = [[encoded[b][0][-1], *encoded[b][1][j]] for b, j in pairs]
        owner = torch.tensor([b for b, _ in pairs])
        shared = copy.deepcopy(cache)
        shared.reorder_cache(owner.to(device))  # one copy of its item's context per option
        ids = torch.tensor(rows)
        labels = torch.cat([torch.full((len(rows), 1), IGNORE_INDEX), ids[:, 1:]], dim=1)
        starts = torch.tensor([len(heads[b]) for b, _ in pairs])
        batch = {"input_ids": ids, "attention_mask": torch.cat([head_mask[owner], torch.ones_like(ids)], dim=1),
                 "position_ids": starts[:, None] + torch.arange(length + 1)[None, :], "labels": labels,
                 "cache": shared}
        for (b, j), logp in zip(pairs, token_logprobs(model, batch), strict=True):
            scores[b][j] = float(logp.sum())
    return scores


def score_probe_set(loaded: LoadedModel, spec: ProbeSetSpec, *, limit: int | None = None, batch_items: int = 32,
                    progress: bool = True) -> ProbeScores:
    """Score every option of (a `subset` of) the probe set under `loaded` as it is."""
    from tqdm.auto import tqdm

    items = subset(spec.items, limit)
    encoded = _encode(loaded.tokenizer, spec, items)
    order = sorted(range(len(items)), key=lambda i: len(encoded[i][0]))  # similar context lengths share a batch
    pad = int(loaded.tokenizer.pad_token_id)
    scores: list[list[float]] = [[] for _ in items]
    model = loaded.model
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(order), batch_items), desc=f"probe {spec.name}", disable=not progress):
            chunk = order[start:start + batch_items]
            for i, s in zip(chunk, _score_batch(model, [encoded[i] for i in chunk], pad), strict=True):
                scores[i] = s
    finally:
        model.train(was_training)
    return ProbeScores(items, scores)
