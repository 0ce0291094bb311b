"""`python -m harness.gpucheck [--device cuda|cpu] [--quick]`: run the GPU check's rows and print one table.

Writes `gpucheck.json` and `gpucheck.md` to `--out` (default `$OUT` when set, else results/gpucheck) after every row,
so a run stopped by the GPU lease's time limit keeps the rows it finished. Without a CUDA
device it stops with an error unless `--device cpu` is given; on a CPU only `tiny` runs and the 12B architecture is
built on the meta device to count its parameters (the CPU smoke test in tests/gpucheck uses `--quick`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.gpucheck.arch import PAPER_PARAMS, tokenizer_source
from harness.gpucheck.rows import BENCH_CYCLES
from harness.paths import REPO_ROOT, cache_dir
from harness.records.atomic import atomic_write_text

PAPER_CYCLE_S = 6.1  # median action-cycle latency, Gemma-3-12B VLM2VLA on an A100 (paper)
README_LORA_GB = 30.0  # README's arithmetic for the 12B LoRA run with gradient checkpointing (incl. CUDA context)
TOKENIZER_DIRS = [REPO_ROOT / ".whl" / "gemma3-tokenizer", cache_dir() / "gemma3-270m" / "vlm-v1-img224"]


@dataclass
class Row:
    name: str
    model: str
    result: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"  # ok | FAIL | skipped
    note: str = ""
    check: str = ""


def run_worker(row: str, args: dict[str, Any], work: Path, timeout: float, *, kill_when: Any = None) -> dict[str, Any]:
    """One row in a fresh process; `kill_when()` true -> SIGKILL it (the kill half of kill-and-resume)."""
    tag = f"{row}-{len(list(work.glob('*.args.json')))}"
    args_file, out_file = work / f"{tag}.args.json", work / f"{tag}.out.json"
    args_file.write_text(json.dumps(args))
    log = open(work / f"{tag}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "harness.gpucheck.rows", row, str(args_file), str(out_file)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
    t0 = time.monotonic()
    while proc.poll() is None:
        if kill_when is not None and kill_when():
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return {"killed": True}
        if time.monotonic() - t0 > timeout:
            proc.kill()
            proc.wait()
            raise TimeoutError(f"row {row} ran past {timeout:.0f} s (log: {log.name})")
        time.sleep(0.01)
    log.close()
    if proc.returncode != 0 or not out_file.is_file():
        tail = Path(log.name).read_text().strip().splitlines()[-3:]
        raise RuntimeError(f"exit status {proc.returncode}: {' | '.join(tail)}")
    return json.loads(out_file.read_text())


def make_data(work: Path) -> Path:
    """A small D_lan from the raw-layout BridgeData V2 fixture (offline, seconds)."""
    from harness.data.build import build
    from harness.data.fixture import write_fixture

    write_fixture(work / "fixture", episodes=12, corrupt=0, seed=0)
    build(work / "fixture", work / "dlan")
    return work / "dlan"


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec) if isinstance(v, float) else str(v)


def summary(row: Row) -> str:
    r = row.result
    if row.status != "ok":
        return row.note
    if "params" in r:
        return f"{r['params'] / 1e9:.2f} B params (README: {PAPER_PARAMS / 1e9:.1f} B), vocab {r['vocab']}" + (
            f", built in {r['build_s']:.0f} s" if "build_s" in r else "")
    if "bench" in r:
        opt, peer = r["bench"].get("optimized", {}), r["bench"].get("peer", {})
        ratios = r["ratios"]
        return (f"{opt.get('cycles')} cycles/variant: optimized median {_fmt(opt.get('median_s'))} s, peer "
                f"{_fmt(peer.get('median_s'))} s (x{_fmt(ratios.get('median_wall_vs_peer'))}), passes "
                f"x{_fmt(ratios.get('forward_passes_vs_peer'))} the peer's, x{_fmt(ratios.get('forward_passes'))} "
                f"the baseline's; malformed {opt.get('malformed')} / {peer.get('malformed')}" + row.note)
    if "median_cycle_s" in r:
        return (f"{r['cycles']} cycles: median {r['median_cycle_s']:.2f} s/cycle, {r['forward_passes']:.1f} "
                f"passes/cycle, {r['ms_per_pass']:.1f} ms/pass, {r['accepted_drafts']:.0f} drafts accepted, "
                f"{r['malformed']} malformed" + row.note)
    if "resumed_from" in r:
        return (f"{r['steps']} steps, killed at a checkpoint and resumed from step {r['resumed_from']}; loss "
                f"{_fmt(r['first_loss'])} -> {_fmt(r['last_loss'])}; {r['trainable']:,} trainable params")
    if "examples" in r:
        return (f"{r['examples']} rows: verbalized {_fmt(r['verbalized_nats'])}, least-likely "
                f"{_fmt(r['least_likely_nats'])} nats/token (random weights: timing only)")
    return row.note or "ran"


def table(rows: list[Row], device: str) -> str:
    lines = [f"GPU check on {device}", "", "| row | model | status | result | s | peak GB | check |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.model} | {r.status} | {summary(r)} | {_fmt(r.result.get('wall_s'), '.1f')} "
                     f"| {_fmt(r.result.get('peak_gb'))} | {r.check} |")
    return "\n".join(lines)


def device_name(device: str) -> str:
    import torch

    from harness.records.environment import hardware

    return f"{hardware(device) if device.startswith('cuda') else 'CPU'} (torch {torch.__version__})"


def write(rows: list[Row], dev: str, out: Path, total_s: float) -> str:
    """gpucheck.md and gpucheck.json of the rows so far (rewritten after every row); returns the Markdown."""
    text = table(rows, device_name(dev)) + f"\n\ntotal {total_s:.0f} s\n"
    atomic_write_text(out / "gpucheck.md", text)
    atomic_write_text(out / "gpucheck.json", json.dumps(
        {"device": device_name(dev), "rows": [r.__dict__ for r in rows]}, indent=2, default=str))
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m harness.gpucheck", description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu (tiny only; the 12B is only counted)")
    ap.add_argument("--out", type=Path, default=None, help="where to write gpucheck.json/.md (default $OUT)")
    ap.add_argument("--quick", action="store_true", help="a tiny row budget (the CPU smoke test)")
    ap.add_argument("--cycles", type=int, default=None, help="policy cycles per model (default 5; quick 1)")
    ap.add_argument("--steps", type=int, default=None, help="LoRA steps (default 10; quick 10)")
    ap.add_argument("--skip", action="append", default=[], help="skip a row by name (repeatable)")
    ap.add_argument("--timeout", type=float, default=420.0, help="seconds per row")
    a = ap.parse_args(argv)
    import torch

    cuda = a.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        print("gpu-check: no CUDA device is visible to torch (torch.cuda.is_available() is False); run it on a GPU "
              "machine, or pass --device cpu for the CPU smoke run on tiny", file=sys.stderr)
        return 2
    cycles = a.cycles or (1 if a.quick else 5)
    steps = a.steps or 10
    out = a.out or Path(os.environ.get("OUT") or REPO_ROOT / "results" / "gpucheck")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="gpucheck-"))
    os.environ.update(VLM2VLA_RESULTS=str(work / "results"), VLM2VLA_RUNS=str(work / "runs"))
    dev = "cuda" if cuda else "cpu"
    t_start = time.monotonic()
    data = make_data(work)
    rows: list[Row] = []

    def record(row: Row) -> Row:
        """Keep a finished row: printed and written at once, so a run killed by its time limit keeps every row done."""
        rows.append(row)
        print(f"gpu-check: {row.name} ({row.model}): {row.status} {summary(row)[:160]}", flush=True)
        write(rows, dev, out, time.monotonic() - t_start)
        return row

    def run_row(name: str, model: str, worker: str, args: dict[str, Any], **kw: Any) -> Row:
        row = Row(name, model)
        if name in a.skip:
            row.status, row.note = "skipped", "--skip"
            return row
        try:
            row.result = run_worker(worker, {"device": dev, **args}, work, a.timeout, **kw)
        except Exception as e:  # one failing row must not hide the others
            row.status, row.note = "FAIL", f"{type(e).__name__}: {e}"[:300]
        return row

    def add(name: str, model: str, worker: str, args: dict[str, Any], **kw: Any) -> Row:
        return record(run_row(name, model, worker, args, **kw))

    try:
        tok = tokenizer_source(TOKENIZER_DIRS)
    except FileNotFoundError as e:
        tok, rows_note = None, str(e)
    big = str(work / "gemma3-12b-arch")
    if tok is None:
        record(Row("12b-arch", "gemma3-12b-arch", status="skipped", note=rows_note))
    elif cuda:
        add("12b-arch", "gemma3-12b-arch", "build12b", {"tokenizer": str(tok), "dst": big})
    else:
        add("12b-arch", "gemma3-12b-arch (meta)", "params", {"tokenizer": str(tok), "work": str(work)})
    have_big = cuda and rows[-1].status == "ok"

    models = ["tiny"] + ([big] if have_big else [])
    for m in models:
        label = "tiny" if m == "tiny" else "gemma3-12b-arch"
        r = run_row("policy", label, "policy", {"model": m, "data": str(data), "cycles": cycles})
        if m != "tiny" and r.status == "ok":
            r.check = f"paper {PAPER_CYCLE_S} s/cycle (A100, trained)"
        record(r)

    # the policy benchmark (baseline, optimized, peer) on tiny in bf16 (the random 12B would spend the row's time on
    # its baseline writing to the token budget); rows -> OUT/policy-bench_<device>.csv
    slug = "".join(ch if ch.isalnum() else "-" for ch in device_name(dev).split(" (")[0]).strip("-").lower()
    r = run_row("policy-bench", "tiny", "bench", {"model": "tiny", "data": str(data),
                                                  "cycles": 2 if a.quick else BENCH_CYCLES,
                                                  "csv": str(out / f"policy-bench_{slug}.csv")})
    if r.status == "ok":
        r.note = f" on {r.result['device']} ({r.result['dtype']}); rows {Path(r.result['csv']).name}"
    record(r)

    # LoRA steps in bf16 with gradient checkpointing; killed at its first checkpoint past half-way, then resumed.
    train_model = big if have_big else "tiny"
    run_dir = work / "runs" / "lora"
    half = max(1, steps // 2)

    def checkpointed() -> bool:
        return any(int(p.name.split("-")[1]) >= half for p in (run_dir / "checkpoints").glob("step-*")
                   if (p / "state.json").is_file())  # complete checkpoints only (harness.train.checkpoint)

    targs = {"model": train_model, "data": str(data), "out": str(run_dir), "recipe": "gpu-check", "steps": steps}
    label = "tiny" if train_model == "tiny" else "gemma3-12b-arch"
    first = run_row("lora-train", label, "train", targs, kill_when=checkpointed)
    if first.status == "ok" and not first.result.get("killed"):
        first.status, first.note = "FAIL", "the run finished before its checkpoint could be killed"
    if first.status != "ok" or "lora-train" in a.skip:
        record(first)
    else:
        print(f"gpu-check: lora-train ({label}): killed at its checkpoint; resuming", flush=True)
        resumed = run_row("lora-train", label, "train", targs)
        if resumed.status == "ok" and not resumed.result.get("resumed_from"):
            resumed.status, resumed.note = "FAIL", "the second run did not resume from the checkpoint"
        if resumed.status == "ok" and label != "tiny":
            peak = resumed.result.get("peak_gb") or 0.0
            ok = peak <= README_LORA_GB
            resumed.check = f"{'within' if ok else 'ABOVE'} README's ~{README_LORA_GB:.0f} GB"
            resumed.status = "ok" if ok else "FAIL"
        record(resumed)

    if importlib.util.find_spec("deepspeed") is None or not cuda:
        record(Row("zero2-launch", "tiny", status="skipped",
                   note="DeepSpeed not brought along" if cuda else "needs CUDA"))
    else:
        zero = work / "runs" / "zero2"
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--config_file",
               str(REPO_ROOT / "experiments" / "accelerate" / "zero2.yaml"), "-m", "harness.cli.main", "train",
               "--model", "tiny", "--recipe", "gpu-check", "--data", str(data), "--out", str(zero), "--max-steps", "4",
               "--no-progress"]
        p = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=a.timeout)
        row = Row("zero2-launch", "tiny", result={"wall_s": time.monotonic() - t0})
        row.status = "ok" if p.returncode == 0 and (zero / "adapter").is_dir() else "FAIL"
        row.note = "one-process ZeRO-2, 4 steps" if row.status == "ok" else (p.stderr or p.stdout)[-300:]
        record(row)

    if importlib.util.find_spec("vlmeval") is None:
        record(Row("vqa-embedded", "tiny", status="skipped", note="VLMEvalKit not brought along"))
    else:
        argv = ["vqa", "--model", "tiny", "--suite", "embedded", "--quiet", "--batch-size", "8"]
        r = run_row("vqa-embedded", "tiny", "cli", {"argv": argv + (["--limit", "4"] if a.quick else [])})
        if r.status == "ok":
            r.note = "embedded suite, batched (8), scored by VLMEvalKit"
        record(r)

    for m in models:
        add("logprob", "tiny" if m == "tiny" else "gemma3-12b-arch", "logprob",
            {"model": m, "data": str(data), "limit": 2 if a.quick else 8})

    print(write(rows, dev, out, time.monotonic() - t_start))
    return 0 if all(r.status != "FAIL" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
