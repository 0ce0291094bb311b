"""Throughput of the D_lan pipeline on a raw dataset (episodes/s), against a naive reader in the same run.

Stages, each over every episode of the source:
- naive read: load the pickles and decode every frame with PIL (what converters that load the images do,
  e.g. the release's own numpy conversion script) - the baseline;
- read: the streaming reader (pickles, quirks, JPEG completeness check; images are not decoded);
- rules annotation: segmentation, merge rule, plans (episodes already in memory);
- rows: D_lan examples in both representations (no writes);
- full build: `vlm2vla data build` into a temporary directory (reading, annotating, copying images, parquet).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from PIL import Image

from harness.data.bridge import EpisodeError, iter_episodes, iter_groups, read_episode
from harness.data.build import BuildConfig, Builder, split_of
from harness.data.examples import Writers, episode_examples
from harness.data.rules import RulesAnnotator
from harness.records import BenchResult

STAGES = ("naive_read", "read", "rules_annotation", "rows", "full_build")  # the naive reader is the baseline


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def run_bench(source: str | Path, spec: str = "bridge") -> BenchResult:
    """Time each stage over every episode of `source` (see the module doc); episodes/s per stage."""
    source = Path(source).resolve()
    config = BuildConfig.load(spec, "rules")
    paths = [p for g in iter_groups(source) for p in g.paths]

    t = time.perf_counter()
    naive = 0
    for p in paths:
        try:
            read_episode(p, source, config.spec.reader, check_images=False)
        except EpisodeError:
            continue
        for img in sorted((p / config.spec.reader.camera).glob("im_*.jpg")):
            with Image.open(img) as im:
                im.load()
        naive += 1
    naive_s = time.perf_counter() - t

    t = time.perf_counter()
    episodes = list(iter_episodes(source, config.spec.reader))
    read_s = time.perf_counter() - t

    annotator = RulesAnnotator(config.decomposition, config.spec.rules)
    t = time.perf_counter()
    decs = [annotator.annotate(e) for e in episodes]
    annotate_s = time.perf_counter() - t

    writers = Writers.from_specs(config.verbalized, config.least_likely)
    t = time.perf_counter()
    n_rows = 0
    for e, d in zip(episodes, decs, strict=True):
        images = [f"images/{e.episode_id}/{p.name}" for p in e.image_paths]
        n_rows += len(episode_examples(e, d, split_of(e.episode_id, config.spec), images, writers, config.spec.aux))
    rows_s = time.perf_counter() - t

    with tempfile.TemporaryDirectory(prefix="dlan-bench-") as tmp:
        t = time.perf_counter()
        report = Builder(source, Path(tmp) / "dlan", config, progress=False).run()
        build_s = time.perf_counter() - t

    n = len(episodes)
    built = report.processed + report.skipped
    seconds = {"naive_read": naive_s, "read": read_s, "rules_annotation": annotate_s, "rows": rows_s,
               "full_build": build_s}
    eps = {"naive_read": _rate(naive, naive_s), "read": _rate(n, read_s), "rules_annotation": _rate(n, annotate_s),
           "rows": _rate(n, rows_s), "full_build": _rate(built, build_s)}
    ratio = eps["full_build"] / eps["naive_read"]
    table = [f"{f'{stage}_eps':<24} {eps[stage]:10.1f} episodes/s" for stage in STAGES]
    table.append(f"full build vs naive read: {ratio:.2f}x ({n} episodes, {n_rows} rows)")
    return BenchResult(
        "data", STAGES,
        {"source": str(source), "trajectories": len(paths), "usable_episodes": n, "rows": n_rows,
         **{f"{stage}_eps": eps[stage] for stage in STAGES}, "seconds": seconds},
        ratios={"full_build_vs_naive_read": ratio}, table=tuple(table))
