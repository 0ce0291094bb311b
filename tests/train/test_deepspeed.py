"""DeepSpeed ZeRO-2 checkpoints on CPU: a killed `accelerate launch` run resumes the schedule where it stopped, and
its checkpoints hold the trainable weights only (for the 12B model: tens of MB, not the 24 GB frozen base).

DeepSpeed's CPU accelerator (gloo) runs ZeRO-2 with one process here; two processes cannot run without a GPU
(accelerate picks no backend for DeepSpeed on CPU), so the multi-process path needs several GPUs (`make gpu-check`
launches one process on one GPU).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from harness.models import load_model
from harness.paths import REPO_ROOT
from harness.records import TrainLogRow, read_rows
from tests.dlan_fixture import write_dlan
from tests.ports import free_port

# looked up, not imported: importing DeepSpeed takes seconds, and the fast suite collects this module too
pytestmark = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                                reason="DeepSpeed comes with the `multigpu` extra (`make test-slow` installs it)")

STEPS, SAVE_EVERY = 16, 4
RECIPE = ("method: lora\nlora: {dropout: 0.0}\nbatch_size: 1\neffective_batch: 2\n"
          f"max_steps: {STEPS}\nsave_every: {SAVE_EVERY}\nprecision: fp32\n"
          "optimizer: {lr: 1.0e-3, warmup_steps: 3}\nmax_length: 512\n")


def _zero2_one_cpu_process(path: Path) -> Path:
    """The shipped `experiments/accelerate/zero2.yaml` for one CPU process in fp32 (DeepSpeed's CPU accelerator)."""
    config = OmegaConf.load(REPO_ROOT / "experiments" / "accelerate" / "zero2.yaml")
    config.num_processes, config.mixed_precision, config.main_process_port = 1, "no", free_port()
    OmegaConf.save(config, path)
    return path


def _command(config: Path, data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "-m",
            "harness.cli.main", "train", "--model", "tiny", "--recipe", "ds", "--data", str(data), "--out", str(out),
            "--no-progress"]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}


def _run(cmd: list[str]) -> str:
    # the first launch on a machine compiles DeepSpeed's shared-memory op (about 2 minutes on 2 cores)
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


def _kill_after_first_checkpoint(cmd: list[str], out: Path) -> None:
    """SIGKILL the launcher and the training process it started once step SAVE_EVERY is saved.

    torchrun starts the training process in a session of its own, so killing the launcher (or its process group)
    would leave it training to the end: each descendant is killed by its id.
    """
    import psutil

    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 900
        while not (out / "checkpoints" / f"step-{SAVE_EVERY:07d}" / "state.json").exists():
            assert proc.poll() is None, "the training process ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 15 minutes"
            time.sleep(0.05)
    finally:
        family = [*psutil.Process(proc.pid).children(recursive=True), psutil.Process(proc.pid)]
        for member in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                member.send_signal(signal.SIGKILL)
        psutil.wait_procs(family, timeout=60)
        proc.wait()
    assert not (out / "adapter").exists(), "the run finished before it could be killed"


@pytest.mark.slow
def test_a_killed_zero2_run_resumes_its_schedule_and_checkpoints_only_trainable_weights(
        tmp_path, experiments_copy, private_dirs):
    (experiments_copy / "recipes" / "ds.yaml").write_text(RECIPE)
    data = write_dlan(tmp_path / "dlan", episodes=2)
    config = _zero2_one_cpu_process(tmp_path / "zero2-cpu.yaml")
    reference, out = tmp_path / "reference", tmp_path / "killed"

    assert f"trained: {STEPS} steps" in _run(_command(config, data, reference))
    _kill_after_first_checkpoint(_command(config, data, out), out)
    resumed = _run(_command(config, data, out))
    assert "resuming at step" in resumed and f"trained: {STEPS} steps" in resumed

    got, want = read_rows(out / "log.csv", TrainLogRow), read_rows(reference / "log.csv", TrainLogRow)
    assert [r.step for r in got] == [r.step for r in want] == list(range(1, STEPS + 1))
    assert [r.tokens for r in got] == [r.tokens for r in want]  # the same batches in the same order
    assert [r.lr for r in got] == pytest.approx([r.lr for r in want])  # the schedule continues, not restarts
    assert [r.loss for r in got] == pytest.approx([r.loss for r in want], rel=1e-5)

    # DeepSpeed's module file holds the trainable parameters only: LoRA and the projector, no frozen base weight
    states = out / "checkpoints" / f"step-{STEPS:07d}" / "pytorch_model" / "mp_rank_00_model_states.pt"
    saved = torch.load(states, map_location="cpu", weights_only=False)["module"]
    assert saved and all("lora_" in name or "modules_to_save" in name for name in saved), sorted(saved)[:5]
    base = load_model("tiny").model
    base_bytes = sum(p.numel() * p.element_size() for p in base.parameters())
    assert states.stat().st_size < 0.3 * base_bytes, (states.stat().st_size, base_bytes)
