"""VQA generation throughput, batched vs one at a time, on the registry's tiny model (`make bench`).

A measurement, not an assertion on time: the ratio lands in the benchmark's extra_info. Greedy answers must not
depend on batching: the batched answers equal the one-at-a-time answers. The CPU/GPU numbers the issue asks for come
from `vlm2vla vqa bench --model gemma3-270m` (see README)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.benchmark


def test_vqa_batched_vs_sequential(benchmark, tmp_path):
    from harness.models import registry
    from harness.specs import load_vqa_suite
    from harness.vqa import bench, generated

    suite = load_vqa_suite("embedded")
    generated.stage(tmp_path)
    model = registry.load_model("tiny")
    result = benchmark.pedantic(lambda: bench.run(model, suite, tmp_path, model_name="tiny", n=16, batch_size=8,
                                                  max_new_tokens=suite.max_new_tokens), rounds=1, iterations=1)
    benchmark.extra_info.update(result.as_dict())
    # greedy decoding: padding a prompt into a batch must not change its answer
    assert result.metrics["identical_answers"] == result.metrics["n"] == 16
