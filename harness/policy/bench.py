"""The policy benchmark: the optimized decoding against the naive baseline and the peer, same inputs and seeds, one run.

A cycle is the policy's three stages on one observation: sub-tasks (`start`), then the motion plan and the action
chunk of the first sub-task (`act`). Variants:

- baseline: three plain `model.generate` calls (`NaiveGenerator`), no cache reuse, unconstrained;
- optimized: `FastGenerator.from_spec` (prefix KV-cache reuse, jump-forward, restricted logits, prompt-lookup
  drafts) with sub-tasks, plan and action each decoded under its grammar (a bounded numbered list, the plan
  language, the action representation);
- peer: what a researcher who wants parseable text would run (`PeerGenerator`): `model.generate` with xgrammar's
  transformers logits processor on the same three grammars and the image+instruction prefix cache reused across the
  three prompts as transformers documents it. The targets compare the optimized decoding with the peer; the
  baseline ratios stay for reference (the baseline writes to its token budget, so they mostly measure early stops).

All run the same `VLM2VLAPolicy` on the same observations (real D_lan images and instructions) with the same
per-cycle seeds and the same sampling distribution, interleaved cycle by cycle (the order alternates) so machine
noise hits them alike. Decoder forward passes are counted by the same hook on the language model for all. One
untimed warm-up cycle per variant comes first, and the grammar engines' one-off tokenizer setup is timed apart. The
summary counts, per variant, the action chunks a bound ended (token budget or `generation.max_action_steps`): the
steps after them were never written; and wherever the optimized decoding loses to the peer, it says on what and
shows the counters that explain it. Rows (`PolicyBenchRow`, one per cycle per variant) are rewritten atomically
after every cycle, so an interrupted run keeps what it measured.
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
from harness.policy.peer import PeerGenerator
from harness.records import BenchResult, PolicyBenchRow
from harness.records.environment import env_of
from harness.records.io import write_rows
from harness.records.rows import ms_per_pass

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel

VARIANTS = ("baseline", "optimized", "peer")
TARGETS = {"median_wall": 0.5, "forward_passes": 0.6}  # optimized / peer, at most
CONSTRAINED = ("optimized", "peer")  # the variants that decode under the grammars: 0 malformed is their target
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
    reused_tokens: float = 0.0  # mean per cycle: prompt tokens whose keys/values came from a cache
    forced_tokens: float = 0.0  # appended by jump-forward without a pass of their own
    accepted_tokens: float = 0.0  # prompt-lookup draft tokens accepted

    @classmethod
    def of(cls, variant: str, rows: Sequence[PolicyBenchRow], truncated: int = 0,
           counts: Sequence[dict[str, float]] = ()) -> VariantSummary:
        """From the variant's rows, and per cycle the `EXTRA_COUNTS` of its stats (empty: 0)."""
        wall = np.array([r.wall_s for r in rows])
        extra = {k: statistics.fmean(c[k] for c in counts) if counts else 0.0 for k in EXTRA_COUNTS}
        return cls(variant, len(rows), float(np.median(wall)), float(wall.mean()),
                   float(np.percentile(wall, 25)), float(np.percentile(wall, 75)), float(wall.max()),
                   statistics.fmean(r.forward_passes for r in rows), statistics.fmean(r.prefill_tokens for r in rows),
                   statistics.fmean(r.generated_tokens for r in rows), sum(r.malformed for r in rows), truncated,
                   **extra)

    @property
    def ms_per_pass(self) -> float:
        """Mean wall time per decoder forward pass (the grammar engine's and sampling's time included)."""
        return ms_per_pass(self.mean_s, self.forward_passes)

    @property
    def tokens_per_pass(self) -> float:
        return self.generated_tokens / self.forward_passes if self.forward_passes else float("nan")


EXTRA_COUNTS = ("reused_tokens", "forced_tokens", "accepted_tokens")


def cycle_count(stats: dict[str, float], key: str) -> float:
    """A counter over the whole cycle: the sub-task stage's plus the plan and action stages' total."""
    return float(stats.get(f"subtasks_{key}", 0.0) + stats.get(key, 0.0))


def default_csv(model: str) -> Path:
    """Where `vlm2vla bench policy` writes a model's rows (the latency report reads them from here)."""
    return results_dir() / "bench" / f"policy_{model}.csv"


def join_csvs(parts: Sequence[str | Path], out: str | Path) -> list[PolicyBenchRow]:
    """Join the rows of a benchmark split over processes (`first_cycle`) into `out`; refuses a (model, variant,
    cycle) that two parts both measured. The parts' environment fingerprints go to `out`'s sidecar."""
    from harness.records.environment import load_environments, remember
    from harness.records.io import read_rows

    rows: list[PolicyBenchRow] = []
    seen: dict[tuple[str, str, int], Path] = {}
    for part in map(Path, parts):
        for fingerprint in load_environments(part.parent)[0].values():
            remember(fingerprint)
        for r in read_rows(part, PolicyBenchRow):
            key = (r.model, r.variant, r.cycle)
            if key in seen:
                raise ValueError(f"{part}: {r.model} {r.variant} cycle {r.cycle} is also in {seen[key]}; the parts "
                                 "must measure different cycles (--first-cycle)")
            seen[key] = part
            rows.append(r)
    rows.sort(key=lambda r: (r.model, VARIANTS.index(r.variant) if r.variant in VARIANTS else len(VARIANTS), r.cycle))
    write_rows(out, rows, PolicyBenchRow)
    return rows


RATIOS = (("median_wall", "median_s"), ("mean_wall", "mean_s"), ("forward_passes", "forward_passes"),
          ("prefill_tokens", "prefill_tokens"))


def _ratio(summaries: dict[str, VariantSummary], key: str, reference: str,
           paired: VariantSummary | None = None) -> float:
    """optimized / reference of one summary field (nan where the reference measured zero); `paired` is the
    optimized decoding over the reference's cycles only, when the reference skipped some (`baseline_every`)."""
    ref, opt = getattr(summaries[reference], key), getattr(paired or summaries["optimized"], key)
    return opt / ref if ref else float("nan")


# measures where more is worse, with what explains a loss on each (read with the counters line)
MEASURES = {
    "median_s": ("median cycle wall", "s", "time per pass (ms/pass) times passes: a higher ms/pass is the decoder's "
                 "own per-step work (grammar mask, sampling, drafts verified in the pass)"),
    "mean_s": ("mean cycle wall", "s", "as the median; the mean also carries the slow tail (long sub-task lists)"),
    "forward_passes": ("forward passes", "/cycle", "passes = prefills + tokens sampled: more generated tokens, or "
                       "fewer forced and accepted tokens per pass"),
    "prefill_tokens": ("prefill tokens", "/cycle", "prompt tokens no cache held (see reused): the optimized decoder "
                       "reuses its last sequence only while it fits the sliding window, the peer deep-copies its "
                       "prefix cache for every prompt"),
    "malformed": ("malformed chunks", "", "action texts that did not parse (a budget cut mid-step)"),
    "truncated": ("truncated chunks", "", "action chunks a bound ended"),
}


def losses(summaries: dict[str, VariantSummary]) -> list[str]:
    """Where the optimized decoding does worse than the peer, and the counters that say why (none when it wins)."""
    if "optimized" not in summaries or "peer" not in summaries:
        return []
    opt, peer = summaries["optimized"], summaries["peer"]
    lost = []
    for key, (label, unit, why) in MEASURES.items():
        a, b = getattr(opt, key), getattr(peer, key)
        if a > b:
            lost.append(f"optimized loses to the peer on {label}: {a:.4g}{unit} vs {b:.4g}{unit}; why: {why}")
    if lost:
        lost.append("counters per cycle (optimized | peer): " + "; ".join(
            f"{name} {getattr(opt, key):.1f} | {getattr(peer, key):.1f}" for name, key in (
                ("passes", "forward_passes"), ("generated", "generated_tokens"), ("tokens/pass", "tokens_per_pass"),
                ("forced", "forced_tokens"), ("accepted drafts", "accepted_tokens"), ("prefill", "prefill_tokens"),
                ("reused", "reused_tokens"), ("ms/pass", "ms_per_pass"))))
    return lost


def summarize(model: str, summaries: dict[str, VariantSummary], grammar_setup_s: float,
              csv_path: Path | None, paired_baseline: VariantSummary | None = None) -> BenchResult:
    """The benchmark's result: per-variant summaries, the optimized decoding's ratios against the baseline and
    the peer, the targets (against the peer), and where it loses to the peer."""
    lines = [f"{'variant':<10}{'cycles':>7}{'median s':>10}{'mean s':>9}{'IQR s':>16}{'max s':>8}"
             f"{'fwd/cycle':>11}{'prefill':>9}{'gen tok':>9}{'malformed':>11}{'truncated':>11}"]
    for s in summaries.values():
        lines.append(f"{s.variant:<10}{s.cycles:>7}{s.median_s:>10.3f}{s.mean_s:>9.3f}"
                     f"{f'{s.q25_s:.3f}-{s.q75_s:.3f}':>16}{s.max_s:>8.3f}{s.forward_passes:>11.1f}"
                     f"{s.prefill_tokens:>9.1f}{s.generated_tokens:>9.1f}{f'{s.malformed}/{s.cycles}':>11}"
                     f"{f'{s.truncated}/{s.cycles}':>11}")
    ratios: dict[str, float] = {}
    targets: dict[str, bool] = {}
    for reference, suffix in (("baseline", ""), ("peer", "_vs_peer")):
        if reference not in summaries or "optimized" not in summaries:
            continue
        paired = paired_baseline if reference == "baseline" else None
        r = {name: _ratio(summaries, key, reference, paired) for name, key in RATIOS}
        ratios.update({name + suffix: v for name, v in r.items()})
        lines.append(f"optimized / {reference}: median wall x{r['median_wall']:.2f}, mean wall "
                     f"x{r['mean_wall']:.2f}, forward passes x{r['forward_passes']:.2f}, "
                     f"prefill tokens x{r['prefill_tokens']:.2f}"
                     + (f" (over the baseline's {paired.cycles} cycles)" if paired is not None else ""))
    if "peer" in summaries and "optimized" in summaries:
        targets = {
            f"median cycle wall <= {TARGETS['median_wall']}x peer": ratios["median_wall_vs_peer"] <= TARGETS["median_wall"],
            f"forward passes <= {TARGETS['forward_passes']}x peer":
                ratios["forward_passes_vs_peer"] <= TARGETS["forward_passes"],
            f"0 malformed chunks (optimized and peer) in >= {MIN_CYCLES_FOR_MALFORMED_TARGET} cycles":
                all(summaries[v].malformed == 0 and summaries[v].cycles >= MIN_CYCLES_FOR_MALFORMED_TARGET
                    for v in CONSTRAINED),
        }
    lines += losses(summaries)
    if any(s.truncated for s in summaries.values()):
        lines.append("truncated: action chunks a bound ended (raise generation.action.max_new_tokens or "
                     "generation.max_action_steps in the model spec)")
    lines.append(f"grammar engines' setup (once per process, not in the cycles): {grammar_setup_s:.2f} s")
    metrics = {"model": model, "grammar_setup_s": grammar_setup_s, "csv": None if csv_path is None else str(csv_path),
               **{v: asdict(s) for v, s in summaries.items()}}
    return BenchResult("policy", tuple(summaries), metrics, ratios=ratios, targets=targets, table=tuple(lines))


def _policy(loaded: LoadedModel, variant: str) -> VLM2VLAPolicy:
    if variant == "baseline":
        return VLM2VLAPolicy(loaded, NaiveGenerator(loaded), constrained=False, name="baseline")
    if variant == "peer":
        return VLM2VLAPolicy(loaded, PeerGenerator(loaded), name="peer")
    return VLM2VLAPolicy(loaded, FastGenerator.from_spec(loaded), name="optimized")


def _cycle(policy: VLM2VLAPolicy, counter: ForwardCounter, item: BenchInput) -> tuple[float, int, dict, bool]:
    t0 = time.perf_counter()
    with counter:
        policy.start(item.instruction, item.observation)
        out = policy.act(item.observation)
    wall = time.perf_counter() - t0
    return wall, counter.calls, out.stats, out.chunk is None


def run_policy_bench(loaded: LoadedModel, inputs: Sequence[BenchInput], cycles: int, *,
                     csv_path: Path | None = None, warmup: int = 1, variants: Sequence[str] = VARIANTS,
                     baseline_every: int = 1, first_cycle: int = 0,
                     progress: Callable[[int], None] | None = None) -> BenchResult:
    """Run `cycles` cycles per variant over `inputs` (cycled through); see the module doc. The baseline runs on
    every `baseline_every`-th cycle only (still interleaved with the others): on an untrained model it writes to its
    token budget, several times the other variants' time, and the targets compare the optimized decoder with the
    peer. `first_cycle` numbers the first measured cycle (its input and seeds are that cycle's), so that a long
    benchmark can be split over processes and its rows joined."""
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    if baseline_every < 1:
        raise ValueError(f"baseline_every must be >= 1, got {baseline_every}")
    if first_cycle < 0:
        raise ValueError(f"first_cycle must be >= 0, got {first_cycle}")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ValueError(f"variants {list(variants)}: choose among {list(VARIANTS)}")
    from harness.policy.grammar import ll_tokenizer

    variants = tuple(v for v in VARIANTS if v in variants)
    t0 = time.perf_counter()
    policies = {v: _policy(loaded, v) for v in variants}
    if "optimized" in policies and policies["optimized"].grammar is not None:
        ll_tokenizer(loaded.tokenizer, loaded.stop_ids)
    if "peer" in policies:
        policies["peer"].generator.setup()
    grammar_setup = time.perf_counter() - t0
    counter = ForwardCounter(loaded)
    for i in range(warmup):
        for v in variants:
            _cycle(policies[v], counter, inputs[i % len(inputs)])
    for p in policies.values():  # the measured cycles use the same seeds in every variant
        p.reset_trials(first_cycle)
    rows: list[PolicyBenchRow] = []
    truncated = dict.fromkeys(variants, 0)
    counts: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    name = loaded.spec.name
    for c in range(first_cycle, first_cycle + cycles):
        item = inputs[c % len(inputs)]
        order = variants if c % 2 == 0 else variants[::-1]
        for v in order:
            if v == "baseline" and c % baseline_every:
                continue
            wall, passes, stats, malformed = _cycle(policies[v], counter, item)
            rows.append(PolicyBenchRow(name, v, c, round(wall, 6), passes,
                                       int(cycle_count(stats, "prefill_tokens")),
                                       int(cycle_count(stats, "generated_tokens")), malformed, env_of(loaded)))
            truncated[v] += int(stats.get("action_truncated", 0.0) > 0)
            counts[v].append({k: cycle_count(stats, k) for k in EXTRA_COUNTS})
        rows.sort(key=lambda r: (VARIANTS.index(r.variant), r.cycle))
        if csv_path is not None:
            write_rows(csv_path, rows, PolicyBenchRow)
        if progress is not None:
            progress(c + 1 - first_cycle)
    summaries = {v: VariantSummary.of(v, [r for r in rows if r.variant == v], truncated[v], counts[v])
                 for v in variants}
    paired = None  # the optimized decoding over the cycles the baseline ran, when it skipped some
    baseline_cycles = {r.cycle for r in rows if r.variant == "baseline"}
    if "optimized" in summaries and baseline_cycles and len(baseline_cycles) < cycles:
        paired = VariantSummary.of("optimized", [r for r in rows if r.variant == "optimized"
                                                 and r.cycle in baseline_cycles])
    return summarize(name, summaries, grammar_setup, csv_path, paired)
