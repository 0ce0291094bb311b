"""Target-only logits give exactly the loss of the full forward pass."""

from __future__ import annotations

import pytest
import torch

from harness.models import load_model
from harness.train.data import TrainDataset, collate, training_items
from harness.train.loss import target_loss


def test_target_loss_equals_the_full_forward_loss(dlan):
    loaded = load_model("tiny")
    items = training_items(dlan, "verbalized")
    dataset = TrainDataset(loaded, items)
    batch = collate(loaded.tokenizer.pad_token_id)([dataset[0], dataset[3], dataset[7]])  # three lengths, 1-2 images
    assert len(set(int(m.sum()) for m in batch["attention_mask"])) > 1
    with torch.no_grad():
        full = loaded.model(**batch).loss
        fast = target_loss(loaded.model, batch)
    assert float(fast) == pytest.approx(float(full), rel=1e-6)
