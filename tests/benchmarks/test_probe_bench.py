"""Scoring the knowledge probe on the embedded Gemma-3-270M: one full forward pass per option over prompt + option
(naive baseline, batched and padded) vs `score_probe_set` (each prompt once, its KV cache shared by the options,
options grouped by length). A measurement (`make bench`), reported as a ratio; never a timed assert."""

from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.benchmark


def _naive(loaded, spec, items, batch_rows: int = 32) -> list[list[float]]:
    import torch

    tok = loaded.tokenizer
    rows = []
    for i, item in enumerate(items):
        context = [tok.bos_token_id] + tok.encode(item.prompt, add_special_tokens=False)
        for j, option in enumerate(item.options):
            rows.append((i, j, context, tok.encode(spec.separator + option, add_special_tokens=False)))
    scores = [[0.0] * len(it.options) for it in items]
    for start in range(0, len(rows), batch_rows):
        chunk = rows[start:start + batch_rows]
        width = max(len(c) + len(o) for _, _, c, o in chunk)
        ids = torch.full((len(chunk), width), tok.pad_token_id)
        mask = torch.zeros_like(ids)
        for b, (_, _, c, o) in enumerate(chunk):
            ids[b, :len(c) + len(o)] = torch.tensor(c + o)
            mask[b, :len(c) + len(o)] = 1
        with torch.inference_mode():
            logp = torch.log_softmax(loaded.model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for b, (i, j, c, o) in enumerate(chunk):
            scores[i][j] = sum(float(logp[b, len(c) - 1 + k, t]) for k, t in enumerate(o))
    return scores


def test_shared_prompt_cache_vs_one_forward_per_option(benchmark):
    from harness.mechanism.probes import load_probe_set, score_probe_set, subset
    from harness.models import load_model

    loaded = load_model("gemma3-270m")
    spec = load_probe_set("knowledge")
    items = subset(spec.items, 64)
    t0 = time.perf_counter()
    want = _naive(loaded, spec, items)
    naive_s = time.perf_counter() - t0
    result = benchmark.pedantic(lambda: score_probe_set(loaded, spec, limit=64, progress=False), rounds=1,
                                iterations=1)
    fast_s = benchmark.stats.stats.mean
    for got, ref in zip(result.option_logprobs, want, strict=True):
        assert got == pytest.approx(ref, abs=2e-3)
    benchmark.extra_info.update(naive_s=naive_s, shared_cache_s=fast_s, speedup=naive_s / fast_s, items=len(items))
    print(f"\nprobe, {len(items)} items x 4 options: one forward per option {naive_s:.1f} s, shared prompt cache "
          f"{fast_s:.1f} s, speedup x{naive_s / fast_s:.2f}")
