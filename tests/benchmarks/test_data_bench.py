"""D_lan throughput on the fixture (pytest-benchmark; `make bench`). Measurements, not assertions on time.

Target: >= 17 episodes/s of rule-based annotation on 2 cores (the 60k-episode release in under an hour).
`extra_info` carries episodes/s and, for the build, the naive reader (decodes every frame) measured in the same run.
"""

from __future__ import annotations

import shutil
import time

import pytest

from harness.data.bench import run_bench
from harness.data.bridge import iter_episodes
from harness.data.build import BuildConfig, Builder
from harness.data.fixture import write_fixture
from harness.data.rules import RulesAnnotator

pytestmark = pytest.mark.benchmark


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-raw")
    write_fixture(root, episodes=48, corrupt=0, seed=0)
    return root


@pytest.fixture(scope="module")
def config():
    return BuildConfig.load("bridge", "rules")


def test_rules_annotation_throughput(benchmark, source, config):
    episodes = list(iter_episodes(source, config.spec.reader))
    annotator = RulesAnnotator(config.decomposition, config.spec.rules)
    benchmark(lambda: [annotator.annotate(e) for e in episodes])
    benchmark.extra_info["episodes"] = len(episodes)
    benchmark.extra_info["episodes_per_s"] = len(episodes) / benchmark.stats["mean"]


def test_full_build_throughput(benchmark, source, config, tmp_path):
    out = tmp_path / "dlan"

    def build():
        shutil.rmtree(out, ignore_errors=True)
        return Builder(source, out, config, progress=False).run()

    t = time.perf_counter()
    stages = run_bench(source)  # the naive reader and each stage, in the same run
    benchmark.extra_info["stages"] = {k: v for k, v in stages.metrics.items() if k.endswith("_eps")}
    benchmark.extra_info["bench_s"] = time.perf_counter() - t
    report = benchmark.pedantic(build, rounds=3, iterations=1)
    eps = report.found / benchmark.stats["mean"]
    benchmark.extra_info["episodes_per_s"] = eps
    benchmark.extra_info["vs_naive_read"] = eps / stages.metrics["naive_read_eps"]
