"""The dataset card `<out>/README.md`: what is in a D_lan directory, how it was made, and what was left out.

Computed over the whole dataset on disk (the manifest and every shard), not only what the last run touched.
Its YAML header declares the splits, so `datasets.load_dataset(<out>)` loads train and held-out directly.
"""

from __future__ import annotations

import csv
import math
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.data.bridge import REASONS
from harness.data.dlan import SPLITS, read_frame, shard_paths
from harness.data.manifest import Manifest
from harness.data.templates import STAGES
from harness.records.atomic import atomic_open, atomic_write_text
from harness.specs.model import GenerationSpec

_PROXY = re.compile(r"\w+|[^\w\s]")
IMAGE_TOKENS_GEMMA3 = 256  # each image is 256 soft tokens in Gemma-3 (not counted below)
SKIPPED_LISTED = 100


class TokenCounter:
    """Tokens of a text: a real Hugging Face tokenizer when given, else a proxy (words and punctuation marks)."""

    def __init__(self, tokenizer: str | Path | None = None):
        self._tok = None
        if tokenizer is None:
            self.method = "proxy: words and punctuation marks (regex \\w+|[^\\w\\s]); pass --tokenizer DIR for real counts"
            return
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise RuntimeError("--tokenizer needs transformers: pip install -e '.[train]'") from e
        try:
            self._tok = AutoTokenizer.from_pretrained(str(tokenizer))
        except (OSError, ValueError) as e:
            raise RuntimeError(f"--tokenizer {tokenizer}: cannot load a Hugging Face tokenizer there ({e})") from e
        self.method = f"Hugging Face tokenizer {tokenizer} ({type(self._tok).__name__}, no special tokens)"

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        if self._tok is None:
            return [len(_PROXY.findall(t)) for t in texts]
        return [len(ids) for ids in self._tok(list(texts), add_special_tokens=False)["input_ids"]]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile: the smallest value that at least `q` % of the values do not exceed."""
    v = sorted(values)
    return v[max(0, math.ceil(q / 100 * len(v)) - 1)]


def _summary(values: Iterable[float]) -> str:
    v = list(values)
    if not v:
        return "-"
    return (f"min {min(v):g} · median {statistics.median(v):g} · mean {statistics.fmean(v):.1f} · "
            f"p95 {percentile(v, 95):g} · p99 {percentile(v, 99):g} · max {max(v):g}")


def _histogram(values: Sequence[int]) -> str:
    counts = Counter(values)
    return ", ".join(f"{k}: {counts[k]}" for k in sorted(counts))


def _shard_stats(out: Path, counter: TokenCounter) -> tuple[dict[str, dict[str, list[int]]], dict[tuple[str, str], int]]:
    """One pass over the shards: per stage the prompt tokens, target tokens (verbalized) and, for actions, the
    least-likely target tokens; and the example count per (split, stage)."""
    stats: dict[str, dict[str, list[int]]] = {s: {"prompt": [], "target": [], "least_likely": []} for s in STAGES}
    counts: Counter = Counter()
    for path in shard_paths(out):
        frame = read_frame(path, columns=["split", "stage", "prompt", "target", "action_digits"])
        for (split, stage), n in frame[["split", "stage"]].value_counts().items():
            counts[(str(split), str(stage))] += int(n)
        for stage, part in frame.groupby("stage"):
            s = stats.setdefault(str(stage), {"prompt": [], "target": [], "least_likely": []})
            s["prompt"] += counter.count(part["prompt"].tolist())
            s["target"] += counter.count(part["target"].tolist())
            if stage == "action":  # one chosen token per digit, by construction of the least-likely codec
                s["least_likely"] += [len(d) for d in part["action_digits"]]
    return stats, dict(counts)


def write_skipped_csv(out: Path, skipped: list[tuple[str, dict[str, Any]]]) -> Path:
    path = out / "skipped.csv"
    with atomic_open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["episode", "reason", "detail"])
        for eid, e in skipped:
            w.writerow([eid, e["reason"], e.get("detail", "")])
    return path


def _front_matter(out: Path) -> str:
    lines = ["---", "configs:", "- config_name: default", "  data_files:"]
    for split in SPLITS:
        if shard_paths(out, split):
            lines += [f"  - split: {split}", f"    path: data/{split}-*.parquet"]
    return "\n".join(lines + ["---", ""])


def _reversal_section(config: Any, ok: Sequence[tuple[str, dict[str, Any]]], action_tokens: Sequence[int],
                      counter: TokenCounter) -> list[str]:
    """Steps per chunk and action target tokens with the merge rule's reversal threshold and without it (every
    sign change splits), and whether the default decoding budgets cover the 99th percentiles."""
    merge = config.decomposition.merge
    after_steps = [c for _, e in ok for c in e["chunk_lengths"]]
    base = [e["any_reversal"] for _, e in ok if "any_reversal" in e]
    before_steps = [c for b in base for c in b["chunk_lengths"]]
    before_tokens = counter.count([t for b in base for t in b["targets"]])
    generation = GenerationSpec()
    L = ["## Action chunks and the jitter threshold", "",
         f"A sign change on an axis ends a merged step only when that axis moves back by more than "
         f"`merge.reversal_cm` = {merge.reversal_cm:g} cm (`experiments/decomposition/{config.decomposition.name}"
         ".yaml`); smaller reversals are teleoperation and sensing jitter and stay inside the step. *Before*: the "
         "same sub-tasks merged with `reversal_cm: 0`, where every sign change splits a step. Target tokens: the "
         f"verbalized action target, counted with {counter.method}.", "",
         f"| per action chunk | before (every sign change splits) | after (reversal_cm {merge.reversal_cm:g}) |",
         "|---|---|---|",
         f"| merged steps | {_summary(before_steps)} | {_summary(after_steps)} |",
         f"| merged steps, histogram | {_histogram(before_steps)} | {_histogram(after_steps)} |",
         f"| target tokens | {_summary(before_tokens)} | {_summary(action_tokens)} |", ""]
    if after_steps and action_tokens:
        steps99, tokens99 = percentile(after_steps, 99), percentile(action_tokens, 99)
        budget_steps, budget_tokens = generation.max_action_steps, generation.action.max_new_tokens
        ok_budget = budget_steps >= steps99 and budget_tokens >= tokens99 + 1
        L += [f"Default decoding budgets (`harness.specs.model.GenerationSpec`): `max_action_steps` {budget_steps} "
              f"(p99 here {steps99:g}), action `max_new_tokens` {budget_tokens} (p99 here {tokens99:g} + 1 for "
              "the end-of-turn token): " + ("both cover the 99th percentile." if ok_budget else
                                            "**below the 99th percentile of this dataset**: raise them in the "
                                            "model spec's `generation` block, or longer chunks are truncated."), ""]
    return L


def write_card(out: str | Path, manifest: Manifest, config: Any, source: str | Path,
               tokenizer: str | Path | None = None, run: Any = None) -> Path:
    out = Path(out)
    episodes = list(manifest.episodes())
    ok = [(i, e) for i, e in episodes if e["status"] == "ok"]
    skipped = [(i, e) for i, e in episodes if e["status"] != "ok"]
    write_skipped_csv(out, skipped)
    counter = TokenCounter(tokenizer)
    tokens, examples = _shard_stats(out, counter)
    spec = config.spec
    by_split = Counter(e["split"] for _, e in ok)
    annotators = Counter(e["annotator"] for _, e in ok)
    fallbacks = Counter(e["fallback"].split(":")[0] for _, e in ok if e.get("fallback"))
    reasons = Counter(e["reason"] for _, e in skipped)

    L: list[str] = [_front_matter(out)]
    L += ["# D_lan: BridgeData V2 verbalized", "",
          "Image-text training pairs for VLM2VLA (sub-tasks -> motion plan -> action chunk, plus sub-task completion "
          "and movement-direction questions), built by `vlm2vla data build`.", "",
          f"- source: `{source}`",
          f"- spec: `experiments/data/{spec.name}.yaml` (decomposition `{spec.decomposition}`, merge rule "
          f"{config.decomposition.merge.axis_limit_cm} cm per axis / {config.decomposition.merge.displacement_limit_cm}"
          f" cm displacement; held-out fraction {spec.heldout_fraction})",
          f"- annotator: **{spec.annotator}**" + (f" (model `{spec.gemini.model}`)" if spec.annotator == "gemini" else ""),
          f"- written: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}", "",
          "## Loading", "", "```python",
          "import datasets",
          f"ds = datasets.load_dataset('{out}')  # splits: train, heldout",
          "from harness.data.dlan import read_examples  # or stream DlanExample rows",
          "```", "",
          "Rows: `harness.data.dlan.DlanExample`. `images` are paths relative to this directory (original 480x640 "
          "JPEGs). For stage `action`, `target` is the verbalized chunk and `action_digits` the same chunk in the "
          "least-likely-token layout (`harness.actions.chunk_to_digits`), `chunk_json` the chunk in metres.", ""]

    L += ["## Counts", "", "| | episodes |", "|---|---:|",
          f"| found under the source | {len(episodes)} |", f"| usable | {len(ok)} |",
          f"| skipped | {len(skipped)} |"]
    for split in SPLITS:
        L.append(f"| {split} | {by_split.get(split, 0)} |")
    L += ["", "| stage | " + " | ".join(SPLITS) + " | total |", "|---|" + "---:|" * (len(SPLITS) + 1)]
    for stage in STAGES:
        per = [examples.get((split, stage), 0) for split in SPLITS]
        L.append(f"| {stage} | " + " | ".join(map(str, per)) + f" | {sum(per)} |")
    total = [sum(examples.get((split, st), 0) for st in STAGES) for split in SPLITS]
    L += ["| **all** | " + " | ".join(map(str, total)) + f" | {sum(total)} |", ""]
    if run is not None:
        L += [f"Last run: {run.processed} episodes processed, {run.reused} unchanged and reused, {run.skipped} "
              f"skipped, {run.removed} removed, in {run.elapsed_s:.1f} s"
              + ("" if run.complete else " (stopped early by --limit: the dataset is partial)") + ".", ""]

    L += ["## Annotation", ""]
    for name, n in sorted(annotators.items()):
        L.append(f"- `{name}`: {n} episodes")
    if fallbacks:
        L.append("- fell back to rules because: " + ", ".join(f"{k} ({v})" for k, v in sorted(fallbacks.items())))
    if spec.annotator == "gemini":
        by_gemini = [e for _, e in ok if e["annotator"] == "gemini"]
        total = sum(e["steps"] for e in by_gemini)
        disagreed = sum(e.get("plan_disagreements", 0) for e in by_gemini)
        L.append(f"- motion plans: Gemini's on {total - disagreed} of the {total} steps Gemini annotated; {disagreed} "
                 "named other directions than the chunk's dominant ones and got the rule plan"
                 if spec.gemini.use_plans else "- motion plans: the rule plan everywhere (`gemini.use_plans` is off)")
    gem = [e["gemini"] for _, e in ok if "gemini" in e]
    if gem:
        prompt, output = sum(g.get("prompt", 0) for g in gem), sum(g.get("output", 0) for g in gem)
        cost = (prompt * spec.gemini.input_usd_per_mtok + output * spec.gemini.output_usd_per_mtok) / 1e6
        L.append(f"- Gemini tokens behind this dataset: {prompt} prompt, {output} output (incl. thinking) ≈ "
                 f"${cost:.2f} at the spec's prices; answers cached under the request hash (re-runs are free)")
    if run is not None and run.usage:
        u = run.usage
        L.append(f"- last run: {u['calls']} API calls ({u['api_errors']} failed after retries), {u['cache_hits']} "
                 f"cache hits, {u['prompt_tokens']} + {u['output_tokens']} tokens, ${u['cost_usd']:.2f}; "
                 f"{u['plan_disagreements']} plan disagreements; answers failing validation are not cached")
    L.append("")

    latency = sum(1 for _, e in ok if e.get("latency"))
    dates = Counter(e.get("date_source", "unknown") for _, e in ok)
    zero = sum(1 for _, e in ok if e.get("zero_first"))
    L += ["## Reader quirks", "",
          f"- collection date from the dated directory name: {dates.get('dir', 0)}, from the first time stamp: "
          f"{dates.get('timestamp', 0)}, unknown (treated as after the cut-off): {dates.get('unknown', 0)}",
          f"- one-step latency removed (collected before {spec.reader.latency_cutoff}): {latency} episodes",
          f"- all-zero first action dropped: {zero} episodes",
          "- translation relabelled from consecutive states; gripper binarized "
          f"(> {spec.reader.gripper_open_above} open, < {spec.reader.gripper_closed_below} closed)", ""]

    steps = [e["steps"] for _, e in ok]
    deltas = [e["deltas"] for _, e in ok]
    chunks = [c for _, e in ok for c in e["chunk_lengths"]]
    L += ["## Lengths", "",
          f"- steps (sub-tasks) per episode: {_summary(steps)}", f"  - histogram: {_histogram(steps)}",
          f"- raw time steps per episode (after the quirks): {_summary(deltas)}",
          f"- action chunk length (merged steps per chunk): {_summary(chunks)}",
          f"  - histogram: {_histogram(chunks)}", ""]

    L += _reversal_section(config, ok, tokens.get("action", {}).get("target", []), counter)

    L += ["## Tokens per example", "", f"Counted with: {counter.method}. Text only: each image adds "
          f"{IMAGE_TOKENS_GEMMA3} tokens for Gemma-3. Least-likely targets: one token per digit (the codec's 10 "
          "symbols are single tokens that never merge).", "",
          "| stage | prompt | target (verbalized) | target (least-likely) |", "|---|---|---|---|"]
    for stage in STAGES:
        s = tokens.get(stage, {})
        ll = _summary(s.get("least_likely", [])) if stage == "action" else "same as verbalized"
        L.append(f"| {stage} | {_summary(s.get('prompt', []))} | {_summary(s.get('target', []))} | {ll} |")
    L.append("")

    L += ["## Skipped episodes", ""]
    if not skipped:
        L += ["None.", ""]
    else:
        L += ["| reason | episodes | meaning |", "|---|---:|---|"]
        for r, n in sorted(reasons.items()):
            L.append(f"| {r} | {n} | {REASONS.get(r, '')} |")
        L += ["", f"All of them with details: `skipped.csv`. The first {min(SKIPPED_LISTED, len(skipped))}:", ""]
        for eid, e in skipped[:SKIPPED_LISTED]:
            L.append(f"- `{eid}`: {e['reason']} ({e.get('detail', '')})")
        L.append("")
    path = out / "README.md"
    atomic_write_text(path, "\n".join(L))
    return path
