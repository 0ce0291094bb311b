"""Codec throughput (pytest-benchmark; `make bench`). A measurement, not an assertion on time."""

from __future__ import annotations

import random

import pytest

from harness.actions import ActionStep, VerbalizedCodec

pytestmark = pytest.mark.benchmark


def _chunks(n: int = 200):
    rng = random.Random(0)
    return [[ActionStep(rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05), rng.uniform(-0.05, 0.05),
                        rng.choice([0.0, 1.0])) for _ in range(rng.randint(1, 5))] for _ in range(n)]


def test_verbalized_encode_decode_throughput(benchmark):
    codec, chunks = VerbalizedCodec(), _chunks()

    def round_trip():
        for chunk in chunks:
            codec.decode(codec.encode(chunk))

    benchmark.extra_info["chunks_per_round"] = len(chunks)
    benchmark(round_trip)
