"""The policy benchmark: the optimized decoding against the naive baseline, same inputs and seeds, one run.

A cycle is the policy's three stages on one observation: sub-tasks (`start`), then the motion plan and the action
chunk of the first sub-task (`act`). Variants:

- baseline: three plain `model.generate` calls (`NaiveGenerator`), no cache reuse, unconstrained;
- optimized: `FastGenerator.from_spec` (prefix KV-cache reuse, jump-forward, restricted logits, prompt-lookup
  drafts) with sub-tasks, plan and action each decoded under its grammar (a bounded numbered list, the plan
  language, the action representation).

Both run the same `VLM2VLAPolicy` on the same observations (real D_lan images and instructions) with the same
per-cycle seeds, interleaved cycle by cycle (the order alternates) so machine noise hits both alike. Decoder forward
passes are counted by the same hook on the language model for both. One untimed warm-up cycle per variant comes
first, and the grammar engine's one-off tokenizer setup is timed apart. The summary counts, per variant, the action
chunks a bound ended (token budget or `generation.max_action_steps`): the steps after them were never written. Rows (`PolicyBenchRow`, one per cycle per
variant) are rewritten atomically after every cycle, so an interrupted run keeps what it measured.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from harness.paths import results_dir
from harness.policy.base import Observation
from harness.policy.decoding import FastGenerator, ForwardCounter, NaiveGenerator
from harness.policy.hierarchical import VLM2VLAPolicy
from harness.records import BenchResult, PolicyBenchRow
from harness.records.environment import env_of
from harness.records.io import write_rows

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel

VARIANTS = ("baseline", "optimized")
TARGETS = {"forward_passes": 0.5, "median_wall": 0.6}  # optimized / baseline, at most
MIN_CYCLES_FOR_MALFORMED_TARGET = 100


@dataclass(frozen=True)
class BenchInput:
    instruction: str
    observation: Observation
    source: str  # where it came from (D_lan example id)


def dlan_inputs(data_dir: str | Path, limit: int | None = None) -> list[BenchInput]:
    """The first image and instruction of every D_lan episode (its `subtasks` examples), both splits."""
    from PIL import Image

    from harness.data.dlan import read_examples

    data_dir = Path(data_dir)
    out = []
    for ex in read_examples(data_dir, stage="subtasks"):
        with Image.open(data_dir / ex.images[0]) as im:
            image = np.asarray(im.convert("RGB"))
        out.append(BenchInput(ex.instruction, Observation(image), ex.example_id))
        if limit is not None and len(out) >= limit:
            break
    if not out:
        raise FileNotFoundError(f"{data_dir}: no 'subtasks' examples to take images and instructions from; build "
                                "D_lan first (make demo-data)")
    return out


@dataclass
class VariantSummary:
    variant: str
    cycles: int
    median_s: float
    mean_s: float
    q25_s: float
    q75_s: float
    max_s: float
    forward_passes: float  # mean per cycle
    prefill_tokens: float
    generated_tokens: float
    malformed: int
    truncated: int = 0  # action chunks a bound ended (token budget or generation.max_action_steps)

    @classmethod
    def of(cls, variant: str, rows: Sequence[PolicyBenchRow], truncated: int = 0) -> VariantSummary:
        wall = np.array([r.wall_s for r in rows])
        return cls(variant, len(rows), float(np.median(wall)), float(wall.mean()),
                   float(np.percentile(wall, 25)), float(np.percentile(wall, 75)), float(wall.max()),
                   statistics.fmean(r.forward_passes for r in rows), statistics.fmean(r.prefill_tokens for r in rows),
                   statistics.fmean(r.generated_tokens for r in rows), sum(r.malformed for r in rows), truncated)


def default_csv(model: str) -> Path:
    """Where `vlm2vla bench policy` writes a model's rows (the latency report reads them from here)."""
    return results_dir() / "bench" / f"policy_{model}.csv"


def _ratio(summaries: dict[str, VariantSummary], key: str) -> float:
    """optimized / baseline of one summary field (nan where the baseline measured zero)."""
    base, opt = getattr(summaries["baseline"], key), getattr(summaries["optimized"], key)
    return opt / base if base else float("nan")


def summarize(model: str, summaries: dict[str, VariantSummary], grammar_setup_s: float,
              csv_path: Path | None) -> BenchResult:
    """The benchmark's result: per-variant summaries, the ratios against the baseline and the targets."""
    lines = [f"{'variant':<10}{'cycles':>7}{'median s':>10}{'mean s':>9}{'IQR s':>16}{'max s':>8}"
             f"{'fwd/cycle':>11}{'prefill':>9}{'gen tok':>9}{'malformed':>11}{'truncated':>11}"]
    for s in summaries.values():
        lines.append(f"{s.variant:<10}{s.cycles:>7}{s.median_s:>10.3f}{s.mean_s:>9.3f}"
                     f"{f'{s.q25_s:.3f}-{s.q75_s:.3f}':>16}{s.max_s:>8.3f}{s.forward_passes:>11.1f}"
                     f"{s.prefill_tokens:>9.1f}{s.generated_tokens:>9.1f}{f'{s.malformed}/{s.cycles}':>11}"
                     f"{f'{s.truncated}/{s.cycles}':>11}")
    ratios: dict[str, float] = {}
    targets: dict[str, bool] = {}
    if len(summaries) == 2:
        ratios = {name: _ratio(summaries, key) for name, key in (("median_wall", "median_s"), ("mean_wall", "mean_s"),
                                                                 ("forward_passes", "forward_passes"),
                                                                 ("prefill_tokens", "prefill_tokens"))}
        lines.append(f"optimized / baseline: median wall x{ratios['median_wall']:.2f}, mean wall "
                     f"x{ratios['mean_wall']:.2f}, forward passes x{ratios['forward_passes']:.2f}, "
                     f"prefill tokens x{ratios['prefill_tokens']:.2f}")
        opt = summaries["optimized"]
        targets = {
            f"forward passes <= {TARGETS['forward_passes']}x baseline":
                ratios["forward_passes"] <= TARGETS["forward_passes"],
            f"median cycle wall <= {TARGETS['median_wall']}x baseline": ratios["median_wall"] <= TARGETS["median_wall"],
            f"0 malformed chunks in >= {MIN_CYCLES_FOR_MALFORMED_TARGET} cycles":
                opt.malformed == 0 and opt.cycles >= MIN_CYCLES_FOR_MALFORMED_TARGET,
        }
    if any(s.truncated for s in summaries.values()):
        lines.append("truncated: action chunks a bound ended (raise generation.action.max_new_tokens or "
                     "generation.max_action_steps in the model spec)")
    lines.append(f"grammar engine setup (once per process, not in the cycles): {grammar_setup_s:.2f} s")
    metrics = {"model": model, "grammar_setup_s": grammar_setup_s, "csv": None if csv_path is None else str(csv_path),
               **{v: asdict(s) for v, s in summaries.items()}}
    return BenchResult("policy", tuple(summaries), metrics, ratios=ratios, targets=targets, table=tuple(lines))


def _policy(loaded: LoadedModel, variant: str) -> VLM2VLAPolicy:
    if variant == "baseline":
        return VLM2VLAPolicy(loaded, NaiveGenerator(loaded), constrained=False, name="baseline")
    return VLM2VLAPolicy(loaded, FastGenerator.from_spec(loaded), name="optimized")


def _cycle(policy: VLM2VLAPolicy, counter: ForwardCounter, item: BenchInput) -> tuple[float, int, dict, bool]:
    t0 = time.perf_counter()
    with counter:
        policy.start(item.instruction, item.observation)
        out = policy.act(item.observation)
    wall = time.perf_counter() - t0
    return wall, counter.calls, out.stats, out.chunk is None


def run_policy_bench(loaded: LoadedModel, inputs: Sequence[BenchInput], cycles: int, *,
                     csv_path: Path | None = None, warmup: int = 1,
                     progress: Callable[[int], None] | None = None) -> BenchResult:
    """Run `cycles` cycles per variant over `inputs` (cycled through); see the module doc."""
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    from harness.policy.grammar import ll_tokenizer

    t0 = time.perf_counter()
    policies = {v: _policy(loaded, v) for v in VARIANTS}
    if policies["optimized"].grammar is not None:
        ll_tokenizer(loaded.tokenizer, loaded.stop_ids)
    grammar_setup = time.perf_counter() - t0
    counter = ForwardCounter(loaded)
    for i in range(warmup):
        for v in VARIANTS:
            _cycle(policies[v], counter, inputs[i % len(inputs)])
    for p in policies.values():  # the measured cycles use the same seeds in both variants
        p.reset_trials()
    rows: list[PolicyBenchRow] = []
    truncated = dict.fromkeys(VARIANTS, 0)
    name = loaded.spec.name
    for c in range(cycles):
        item = inputs[c % len(inputs)]
        order = VARIANTS if c % 2 == 0 else VARIANTS[::-1]
        for v in order:
            wall, passes, stats, malformed = _cycle(policies[v], counter, item)
            rows.append(PolicyBenchRow(name, v, c, round(wall, 6), passes,
                                       int(stats.get("subtasks_prefill_tokens", 0) + stats["prefill_tokens"]),
                                       int(stats.get("subtasks_generated_tokens", 0) + stats["generated_tokens"]),
                                       malformed, env_of(loaded)))
            truncated[v] += int(stats.get("action_truncated", 0.0) > 0)
        rows.sort(key=lambda r: (VARIANTS.index(r.variant), r.cycle))
        if csv_path is not None:
            write_rows(csv_path, rows, PolicyBenchRow)
        if progress is not None:
            progress(c + 1)
    summaries = {v: VariantSummary.of(v, [r for r in rows if r.variant == v], truncated[v]) for v in VARIANTS}
    return summarize(name, summaries, grammar_setup, csv_path)
