"""The training loss: cross-entropy over the target tokens only, computed on the target positions only.

Gemma-3's vocabulary has 262k entries: on the embedded 270M the output projection over every prompt position costs
more than the whole transformer stack, yet the prompt is masked out of the loss anyway. Only positions whose *next*
token is a target (the union over the batch) go through the head; the loss is the same mean over target tokens
that `model(**batch).loss` computes (tested), at a fraction of the cost (`make bench`). The mechanism experiments
read per-token log-probabilities from the same target-only logits (`target_logits`).

An optimiser step may span several micro-batches (gradient accumulation) and processes. Its loss is the mean over
*all* its target tokens, as in one big batch: each micro-batch's summed loss is divided by the step's token count
(`per`), never by its own, so a micro-batch holding one yes/no answer does not weigh as much as one holding a
300-token action chunk.
"""

from __future__ import annotations

from typing import Any

from harness.models.loaded import IGNORE_INDEX


def target_count(batch: dict[str, Any]) -> int:
    """Number of target tokens (predicted positions) in a batch."""
    return int((batch["labels"][:, 1:] != IGNORE_INDEX).sum())


def target_logits(model: Any, batch: dict[str, Any]) -> tuple[Any, Any]:
    """(logits, targets): logits [B, K, V] at the K positions whose next token is a target in some row, and the
    target ids [B, K] they predict (IGNORE_INDEX where that row has no target at that position)."""
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    next_labels = batch["labels"][:, 1:]
    keep = (next_labels != IGNORE_INDEX).any(dim=0).nonzero().squeeze(1)
    logits = model(**inputs, logits_to_keep=keep).logits
    return logits, next_labels[:, keep]


def target_loss(model: Any, batch: dict[str, Any], per: float | None = None) -> Any:
    """Summed cross-entropy over the batch's target tokens divided by `per` (default: their count, i.e. the mean)."""
    import torch

    logits, targets = target_logits(model, batch)
    total = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                                              ignore_index=IGNORE_INDEX, reduction="sum")
    return total / (per if per is not None else max(target_count(batch), 1))
