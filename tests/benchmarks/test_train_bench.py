"""One LoRA training step of the embedded Gemma-3-270M: logits over every position (naive baseline) vs target-only
logits (`harness.train.loss.target_loss`). A measurement (`make bench`), reported as a ratio; never a timed assert.
"""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.benchmark


def test_target_only_logits_vs_full_logits(benchmark, tmp_path):
    import torch

    from harness.models import load_model
    from harness.specs import load_recipe
    from harness.train.data import TrainDataset, collate, training_items
    from harness.train.loss import target_loss
    from harness.train.trainable import make_trainable
    from tests.dlan_fixture import write_dlan

    loaded = load_model("gemma3-270m")
    net = make_trainable(loaded.model, load_recipe("lora-cpu"))
    net.train()
    data = write_dlan(tmp_path / "dlan", episodes=1)
    items = [it for it in training_items(data, "verbalized") if it.prompt.stage == "action"][:2]
    batch = collate(loaded.tokenizer.pad_token_id)([TrainDataset(loaded, items)[i] for i in range(2)])

    def naive():
        net(**batch).loss.backward()
        net.zero_grad(set_to_none=True)

    def fast():
        target_loss(net, batch).backward()
        net.zero_grad(set_to_none=True)

    naive(), fast()  # warm up
    rounds = 5
    t0 = time.perf_counter()
    for _ in range(rounds):
        naive()
    naive_s = (time.perf_counter() - t0) / rounds
    benchmark.pedantic(fast, rounds=rounds, iterations=1)
    fast_s = benchmark.stats.stats.mean
    with torch.no_grad():
        assert float(target_loss(net, batch)) == pytest.approx(float(net(**batch).loss), rel=1e-5)
    benchmark.extra_info.update(naive_step_s=naive_s, target_only_step_s=fast_s, speedup=naive_s / fast_s,
                                tokens=int(batch["attention_mask"].sum()))
    print(f"\nLoRA step, batch 2: full logits {naive_s:.2f} s, target-only {fast_s:.2f} s, "
          f"speedup x{naive_s / fast_s:.2f}")
