"""The recipe is the same on every path: effective batch, accumulation, clipping; DeepSpeed's config follows it;
two processes train what one does; full fine-tuning keeps fp32 master weights."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file

from harness.models import load_model
from harness.paths import REPO_ROOT
from harness.records import TrainLogRow, read_rows
from harness.specs import SpecError, load_recipe
from harness.specs import load_model as load_spec
from harness.train.distributed import configure_deepspeed
from harness.train.recipe import train
from tests.dlan_fixture import write_dlan


def test_accumulation_is_derived_from_the_effective_batch_and_the_processes():
    paper = load_recipe("lora-paper")
    assert (paper.effective_batch, paper.batch_size, paper.max_grad_norm) == (8, 1, 1.0)
    assert [paper.grad_accum(n) for n in (1, 2, 4, 8)] == [8, 4, 2, 1]
    with pytest.raises(SpecError, match=r"effective_batch 8 is not a multiple of .* 1 x 3 = 3.*lora-paper\.yaml"):
        paper.grad_accum(3)
    cpu = load_recipe("lora-cpu")  # the demo keeps its numbers: batch 1 x accumulation 2, no clipping
    assert (cpu.batch_size, cpu.grad_accum(1), cpu.max_grad_norm) == (1, 2, None)
    assert "loss" not in cpu.description.lower()  # descriptions state the recipe, not measured results


def _zero2_plugin():
    """accelerate's own DeepSpeedPlugin as `accelerate launch --config_file experiments/accelerate/zero2.yaml` makes
    it (the launcher passes the YAML's keys through the environment; absent ones stay `auto`)."""
    from accelerate.utils import DeepSpeedPlugin

    return DeepSpeedPlugin(zero_stage=2, offload_optimizer_device="none", offload_param_device="none",
                           zero3_init_flag=False)


@pytest.mark.parametrize("processes", [1, 4])
def test_deepspeed_config_carries_the_recipes_batch_and_clipping(processes):
    plugin, recipe = _zero2_plugin(), load_recipe("lora-paper")
    # today's trainer prepares no DataLoader: with `auto` batch sizes accelerate raises before step 1
    assert plugin.is_auto("train_micro_batch_size_per_gpu")
    configure_deepspeed(plugin, recipe, processes)
    assert not plugin.is_auto("train_micro_batch_size_per_gpu") and not plugin.is_auto("gradient_clipping")
    config = plugin.deepspeed_config
    assert config["train_micro_batch_size_per_gpu"] == 1 and config["train_batch_size"] == 8
    assert config["gradient_accumulation_steps"] == 8 // processes and config["gradient_clipping"] == 1.0
    unclipped = _zero2_plugin()
    configure_deepspeed(unclipped, load_recipe("lora-cpu"), 1)
    assert unclipped.deepspeed_config["gradient_clipping"] == 0.0  # DeepSpeed's "never clip"


def test_a_deepspeed_config_that_contradicts_the_recipe_is_refused():
    from accelerate.utils import DeepSpeedPlugin

    plugin = DeepSpeedPlugin(zero_stage=2, gradient_accumulation_steps=2, zero3_init_flag=False)
    with pytest.raises(ValueError, match="gradient_accumulation_steps: 2.*needs 8.*set it to auto"):
        configure_deepspeed(plugin, load_recipe("lora-paper"), 1)


def test_full_fine_tuning_in_bf16_keeps_fp32_master_weights(dlan, tmp_path, experiments_copy, private_dirs):
    """lr 1e-5 on weights stored in bf16 (a bf16 step near 0.05 is 2.4e-4) is rounded away unless the weights
    trained are fp32; the forward still runs under bf16 autocast."""
    (experiments_copy / "recipes" / "tiny-step.yaml").write_text(
        "method: full\nprecision: bf16\nbatch_size: 2\neffective_batch: 2\nmax_grad_norm: null\n"
        "optimizer: {lr: 1.0e-5}\nmax_length: 512\n")
    spec = replace(load_spec("tiny"), dtype="bfloat16")
    result = train(spec, dlan, tmp_path / "full-bf16", recipe="tiny-step", max_steps=1, progress=False)
    base = load_model(spec).model.state_dict()  # the weights training started from, as loaded (bf16)
    tuned = load_model("tiny", adapter=result.adapter_dir, dtype="float32").model.state_dict()
    name = "model.language_model.layers.0.mlp.gate_proj.weight"
    assert base[name].dtype == torch.bfloat16
    big = base[name].float().abs() > 0.01
    moved = (tuned[name].float() != base[name].float())[big].float().mean()
    assert moved > 0.5, f"only {float(moved):.1%} of the weights took the step"


def _launch(tmp_path, data, out, processes: int) -> list[TrainLogRow]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "true"}
    accelerate = [sys.executable, "-m", "accelerate.commands.launch"]
    cmd = [*accelerate, "--num_processes", str(processes), "--num_machines", "1", "--mixed_precision", "no",
           "--dynamo_backend", "no"]
    if processes > 1:  # torchrun's launcher; ACCELERATE_USE_CPU makes accelerate join the processes over gloo
        cmd += ["--multi_gpu", "--main_process_port", "29571"]
    cmd += ["-m", "harness.cli.main", "train", "--model", "tiny", "--recipe", "two", "--data", str(data), "--out",
            str(out), "--no-progress"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"x {processes} processes" in done.stdout  # accumulation derived from the processes that joined
    assert done.stdout.count("trained: 3 steps") == processes  # every process trained to the end
    return read_rows(out / "log.csv", TrainLogRow)


@pytest.mark.slow
def test_two_processes_train_what_one_trains(tmp_path, experiments_copy, private_dirs):
    """`accelerate launch --num_processes 2` on CPU (gloo): the same steps of effective batch 4 (1 x 2 x 2 processes
    vs 1 x 4 x 1), so the same losses and the same adapter."""
    (experiments_copy / "recipes" / "two.yaml").write_text(
        "method: lora\nlora: {dropout: 0.0}\nbatch_size: 1\neffective_batch: 4\nmax_steps: 3\nprecision: fp32\n"
        "optimizer: {lr: 1.0e-3}\nmax_length: 512\n")
    data = write_dlan(tmp_path / "dlan", episodes=2)
    two = _launch(tmp_path, data, tmp_path / "two", 2)
    one = _launch(tmp_path, data, tmp_path / "one", 1)
    assert [r.step for r in two] == [1, 2, 3]  # the main process logs each step once
    assert [r.tokens for r in two] == [r.tokens for r in one]
    assert [r.loss for r in two] == pytest.approx([r.loss for r in one], rel=1e-5)
    assert [r.lr for r in two] == pytest.approx([r.lr for r in one])
    a = load_file(str(tmp_path / "two" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "one" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
