"""Action quality on held-out D_lan: does the model write a parseable action chunk, and how far off is it?

Greedy generation from the same action prompt and image the model is trained on (`LoadedModel.generate_batch`,
the policy's path), parsed with the representation's codec (verbalized text, or the model's 10 least-likely
tokens). Error: per example, the absolute difference between the decoded and the true chunk's net translation
(sum of its steps), averaged over the three axes, in cm; then averaged over the examples that parsed. Chunks differ
in step count, so the net displacement is what can be compared; `zero_motion_mae_cm` is the same error for a model
that never moves (the floor a useful policy must beat).

Examples are generated in batches of similar target length; a batch may write 1.5 x its longest target in tokens
+ 8 (a model that has learnt the format stops well before that; one that rambles is cut off, counted as unparsed,
and costs no more than the examples it was batched with).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.actions import ActionParseError, chunk_from_lists, displacement, make_codec
from harness.data.dlan import read_examples
from harness.mechanism.logprob import action_items
from harness.models.least_likely import least_likely_tokens
from harness.models.loaded import prompt_content
from harness.specs import load_actions

if TYPE_CHECKING:
    from harness.actions import LeastLikelyTokens
    from harness.models.loaded import LoadedModel

# representation type -> the action spec (experiments/actions/) that writes it
ACTION_SPECS = {"verbalized": "verbalized", "least_likely": "least-likely"}


@dataclass
class ActionQuality:
    representation: str
    n: int
    parsed: int
    mae_cm: float  # nan when nothing parsed
    zero_motion_mae_cm: float
    max_new_tokens: int  # the largest budget of any batch
    samples: list[dict[str, Any]] = field(default_factory=list)  # per example: id, generated text, parsed?

    @property
    def parse_rate(self) -> float:
        return self.parsed / self.n if self.n else float("nan")


def _mean_abs_cm(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return sum(abs(x - y) for x, y in zip(a, b, strict=True)) * 100 / 3


def action_quality(loaded: LoadedModel, data_dir: str | Path, representation: str, *, split: str = "heldout",
                   limit: int | None = None, tokens: LeastLikelyTokens | None = None, batch_size: int = 4,
                   progress: bool = True) -> ActionQuality:
    """Generate, parse and score the action examples of a D_lan split under `loaded` as it is.

    `tokens`: the least-likely token choice of the untuned base (default: `least_likely_tokens(loaded)`, which is
    right for the base and its adapters; a fully fine-tuned model must be given its base's choice).
    """
    from PIL import Image
    from tqdm.auto import tqdm

    if representation not in ACTION_SPECS:
        raise ValueError(f"unknown representation {representation!r}; choose from {', '.join(ACTION_SPECS)}")
    if representation == "least_likely" and tokens is None:
        tokens = least_likely_tokens(loaded)
    codec = make_codec(load_actions(ACTION_SPECS[representation]), tokens)
    items = action_items(data_dir, representation, tokens, split=split, limit=limit)
    if not items:
        raise ValueError(f"{data_dir}: no action examples in split {split!r}")
    chunks = {ex.example_id: chunk_from_lists(json.loads(ex.chunk_json))
              for ex in read_examples(data_dir, split=split, stage="action")}
    lengths = {it.example_id: len(it.target_ids) if it.target_ids is not None
               else len(loaded.tokenizer.encode(it.target, add_special_tokens=False)) for it in items}
    by_length = sorted(items, key=lambda it: lengths[it.example_id])  # a batch's budget fits its own examples
    results: dict[str, tuple[str, float | None]] = {}
    budgets = []
    bar = tqdm(total=len(items), desc=f"actions {representation}", disable=not progress)
    for start in range(0, len(by_length), batch_size):
        batch = by_length[start:start + batch_size]
        budget = math.ceil(1.5 * max(lengths[it.example_id] for it in batch)) + 8
        budgets.append(budget)
        contents = []
        for it in batch:
            images = []
            for path in it.images:
                with Image.open(path) as im:
                    images.append(im.convert("RGB"))
            contents.append(prompt_content(it.prompt, images))
        for it, text in zip(batch, loaded.generate_batch(contents, max_new_tokens=budget), strict=True):
            try:
                predicted = codec.decode(text)
            except ActionParseError:
                results[it.example_id] = (text, None)
                continue
            results[it.example_id] = (text, _mean_abs_cm(displacement(predicted), displacement(chunks[it.example_id])))
        bar.update(len(batch))
    bar.close()
    errors = [e for _, e in results.values() if e is not None]
    samples = [{"example_id": it.example_id, "text": results[it.example_id][0],
                "parsed": results[it.example_id][1] is not None} for it in items]
    zero = [_mean_abs_cm((0.0, 0.0, 0.0), displacement(chunks[it.example_id])) for it in items]
    return ActionQuality(representation=representation, n=len(items), parsed=len(errors),
                         mae_cm=sum(errors) / len(errors) if errors else float("nan"),
                         zero_motion_mae_cm=sum(zero) / len(zero), max_new_tokens=max(budgets), samples=samples)
