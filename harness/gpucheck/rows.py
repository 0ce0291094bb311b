"""The rows of the GPU check, each run in its own process: `python -m harness.gpucheck.rows ROW ARGS.json OUT.json`.

A fresh process per row makes its peak GPU memory its own (`torch.cuda.max_memory_allocated`) and keeps a crash or
an out-of-memory error inside one row. Rows use the harness's public entry points only (`load_model`, `train`,
`VLM2VLAPolicy` + `FastGenerator`, `run_policy_bench`, `logprob_rows`, the `vlm2vla` CLI), the same code paths a user
runs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

GB = 1e9


def model_spec(model: str, recipe: str | None = None) -> Any:
    """A spec name, or a checkpoint directory (the random 12B) run with the paper's `vlm2vla` settings."""
    from harness.specs import load_model as load_model_spec

    if Path(model).is_dir():
        return replace(load_model_spec("vlm2vla"), name="gemma3-12b-arch", base=str(Path(model).resolve()),
                       adapter=None, **({"recipe": recipe} if recipe else {}))
    return load_model_spec(model)


def build12b(a: dict[str, Any]) -> dict[str, Any]:
    from harness.gpucheck import arch

    tokenizer = arch.load_tokenizer(Path(a["tokenizer"]), Path(a["dst"]).parent / "tokenizer")
    t0 = time.perf_counter()
    n = arch.build(Path(a["dst"]), tokenizer, a["device"], num_hidden_layers=a.get("layers"))
    return {"params": n, "vocab": len(tokenizer), "build_s": time.perf_counter() - t0}


def params(a: dict[str, Any]) -> dict[str, Any]:
    """The 12B architecture built on the meta device: parameter count without allocating it (any machine)."""
    import torch
    from transformers import Gemma3ForConditionalGeneration

    from harness.gpucheck import arch

    tokenizer = arch.load_tokenizer(Path(a["tokenizer"]), Path(a["work"]) / "tokenizer")
    with torch.device("meta"):
        model = Gemma3ForConditionalGeneration(arch.config(tokenizer))
    return {"params": sum(p.numel() for p in model.parameters()), "vocab": len(tokenizer)}


def policy(a: dict[str, Any]) -> dict[str, Any]:
    """Policy cycles (sub-tasks, plan, action) with the spec's sampling, grammars and drafts, after one warm-up."""
    from harness.models import load_model
    from harness.policy.bench import dlan_inputs
    from harness.policy.decoding import FastGenerator, ForwardCounter
    from harness.policy.hierarchical import VLM2VLAPolicy
    from harness.records.rows import ms_per_pass

    loaded = load_model(model_spec(a["model"]), device=a["device"])
    inputs = dlan_inputs(a["data"], limit=a["cycles"] + 1)
    pol = VLM2VLAPolicy(loaded, FastGenerator.from_spec(loaded), name="optimized")
    counter = ForwardCounter(loaded)
    walls, passes, malformed, drafts = [], [], 0, 0.0
    for c in range(a["cycles"] + 1):
        item = inputs[c % len(inputs)]
        _sync(a["device"])
        t0 = time.perf_counter()
        with counter:
            pol.start(item.instruction, item.observation)
            out = pol.act(item.observation)
        _sync(a["device"])
        if c == 0:
            continue  # warm-up: kernels, grammar engine, allocator
        walls.append(time.perf_counter() - t0)
        passes.append(counter.calls)
        malformed += out.chunk is None
        drafts += sum(v for k, v in out.stats.items() if k.endswith("accepted_tokens"))
    median = statistics.median(walls)
    return {"device": device_label(a["device"]), "cycles": len(walls), "median_cycle_s": median, "mean_cycle_s": statistics.fmean(walls),
            "forward_passes": statistics.fmean(passes), "ms_per_pass": ms_per_pass(sum(walls), sum(passes)),
            "malformed": malformed, "accepted_drafts": drafts}


BENCH_CYCLES = 20  # the policy benchmark's cycles per variant on a GPU (30 took ~2 min of a 9-min lease on an H100)


def bench(a: dict[str, Any]) -> dict[str, Any]:
    """`vlm2vla bench policy`'s benchmark (baseline, optimized, peer; same inputs, seeds, interleaving) on the row's
    device, the model in bf16 on CUDA; its rows go to `a["csv"]` with the device named in the file name and here."""
    from harness.models import load_model
    from harness.policy.bench import dlan_inputs, run_policy_bench

    spec = model_spec(a["model"])
    if a["device"].startswith("cuda"):
        spec = replace(spec, dtype="bfloat16")
    loaded = load_model(spec, device=a["device"])
    result = run_policy_bench(loaded, dlan_inputs(a["data"]), a.get("cycles", BENCH_CYCLES),
                              csv_path=Path(a["csv"]) if a.get("csv") else None)
    m = result.metrics
    per = {v: {k: m[v][k] for k in ("median_s", "forward_passes", "malformed", "cycles")} for v in result.variants}
    return {"device": device_label(a["device"]), "dtype": spec.dtype, "bench": per, "ratios": result.ratios,
            "targets": result.targets, "csv": a.get("csv"), "table": list(result.table)}


def device_label(device: str) -> str:
    """The GPU's name (what the benchmark's numbers belong to), or 'cpu'."""
    from harness.records.environment import hardware

    return hardware(device) if device.startswith("cuda") else "cpu"


def train(a: dict[str, Any]) -> dict[str, Any]:
    from harness.train.recipe import train as run

    r = run(model_spec(a["model"]), a["data"], a["out"], recipe=a["recipe"], max_steps=a["steps"], progress=False)
    return {"steps": r.steps, "resumed_from": r.resumed_from, "first_loss": r.first_loss, "last_loss": r.last_loss,
            "train_s": r.wall_s, "trainable": sum(r.trainable.values())}


def logprob(a: dict[str, Any]) -> dict[str, Any]:
    """Fig. 3: mean per-token log-probability of held-out actions, verbalized vs least-likely tokens."""
    from harness.mechanism.logprob import logprob_rows
    from harness.models import load_model

    loaded = load_model(model_spec(a["model"]), device=a["device"])
    t0 = time.perf_counter()
    rows = logprob_rows(loaded, a["data"], split=a.get("split", "heldout"), limit=a["limit"], progress=False)
    out: dict[str, Any] = {"examples": len(rows), "logprob_s": time.perf_counter() - t0}
    for rep in ("verbalized", "least_likely"):
        vals = [r.mean_logprob for r in rows if r.representation == rep]
        out[f"{rep}_nats"] = statistics.fmean(vals) if vals else None
    return out


def cli(a: dict[str, Any]) -> dict[str, Any]:
    """A `vlm2vla` command in this process (its exit status is the row's verdict)."""
    from harness.cli.main import app

    t0 = time.perf_counter()
    try:
        app(args=a["argv"])
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    if code:
        raise RuntimeError(f"vlm2vla {' '.join(a['argv'])} exited with status {code}")
    return {"cli_s": time.perf_counter() - t0}


ROWS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "params": params, "build12b": build12b, "policy": policy, "bench": bench, "train": train, "logprob": logprob,
    "cli": cli}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _peak(device: str) -> dict[str, Any]:
    if not device.startswith("cuda"):
        return {"peak_gb": None}
    import torch

    return {"peak_gb": torch.cuda.max_memory_allocated() / GB, "peak_reserved_gb": torch.cuda.max_memory_reserved() / GB}


def main(argv: list[str]) -> int:
    row, args_file, out_file = argv
    a = json.loads(Path(args_file).read_text())
    t0 = time.perf_counter()
    result = {"ok": True, **ROWS[row](a)}
    result.update(_peak(a.get("device", "cpu")), wall_s=time.perf_counter() - t0)
    Path(out_file).write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
