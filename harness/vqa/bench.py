"""Throughput of batched generation against one sample at a time, on the same model and prompts, in one run.

The prompts are the first `n` samples of a suite (taken round-robin over its benchmarks, built by VLMEvalKit's
dataset classes). Both arms go through the adapter with the same `max_new_tokens`; after one warm-up request, each
group of `batch_size` prompts is answered one at a time (`generate_many([m])` per prompt) and then as one batch
(`generate_many(group)`), the two arms interleaved group by group so that load from other processes falls on both
alike. Greedy decoding makes both arms' answers comparable: the count of identical answers is reported next to the
speed-up.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.paths import results_dir
from harness.records import BenchResult
from harness.specs.vqa import VQASuiteSpec
from harness.vqa import kit

kit.load()
from harness.vqa.adapter import Generator, HarnessVLM  # noqa: E402
from harness.vqa.predict import build_message  # noqa: E402
from harness.vqa.runner import instantiate  # noqa: E402

VARIANTS = ("one at a time", "batched")


def default_json(model: str) -> Path:
    """Where `vlm2vla vqa bench` writes a run: one file per run, named by model and UTC time."""
    return results_dir() / "vqa" / "bench" / f"{model}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.json"


def _prompts(model: HarnessVLM, suite: VQASuiteSpec, n: int) -> list[list[dict[str, Any]]]:
    datasets = [instantiate(b) for b in suite.benchmarks]
    for ds in datasets:
        model.set_dump_image(ds.dump_image)
    messages: list[list[dict[str, Any]]] = []
    row = 0
    while len(messages) < n:
        added = False
        for ds in datasets:
            if row < len(ds.data) and len(messages) < n:
                messages.append(build_message(model, ds, ds.data.iloc[row]))
                added = True
        if not added:
            break
        row += 1
    return messages


def run(generator: Generator, suite: VQASuiteSpec, lmudata: Path, *, model_name: str, n: int, batch_size: int,
        max_new_tokens: int) -> BenchResult:
    """Samples/s of both arms on the first `n` prompts of `suite`, and how many answers the arms share."""
    with kit.session(lmudata):
        model = HarnessVLM(generator, max_new_tokens=max_new_tokens, name=model_name)
        messages = _prompts(model, suite, n)
        model.generate_many(messages[:1])  # warm-up: lazy initialisation is not throughput
        sequential: list[str] = []
        batched: list[str] = []
        seq_s = bat_s = 0.0
        for start in range(0, len(messages), batch_size):
            group = messages[start:start + batch_size]
            t0 = time.perf_counter()
            sequential += [model.generate_many([m])[0] for m in group]
            t1 = time.perf_counter()
            batched += model.generate_many(group)
            bat_s += time.perf_counter() - t1
            seq_s += t1 - t0
    k = len(messages)
    m = {"model": model_name, "suite": suite.name, "n": k, "batch_size": batch_size, "max_new_tokens": max_new_tokens,
         "sequential_s": round(seq_s, 3), "batched_s": round(bat_s, 3),
         "sequential_samples_per_s": round(k / seq_s, 3), "batched_samples_per_s": round(k / bat_s, 3),
         "identical_answers": sum(a == b for a, b in zip(sequential, batched, strict=True))}  # of n
    speedup = round(seq_s / bat_s, 3)  # batched / sequential samples per second
    table = (f"one at a time: {m['sequential_samples_per_s']:.3f} samples/s ({m['sequential_s']:.1f} s)",
             f"batched (B={batch_size}): {m['batched_samples_per_s']:.3f} samples/s ({m['batched_s']:.1f} s)",
             f"speed-up: {speedup:.2f}x; identical answers: {m['identical_answers']}/{k}")
    return BenchResult("vqa", VARIANTS, m, ratios={"speedup": speedup}, table=table)
