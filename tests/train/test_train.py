"""The training recipe on the embedded tiny model: what is trained, what is saved, logging, resuming."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from typer.testing import CliRunner

from harness.cli.main import app
from harness.data.dlan import read_examples
from harness.models import IGNORE_INDEX, load_model
from harness.models.least_likely import least_likely_tokens
from harness.paths import REPO_ROOT
from harness.records import TrainLogRow, read_rows
from harness.specs import load_model as load_spec
from harness.specs import load_recipe
from harness.train.data import TrainDataset, collate, training_items
from harness.train.recipe import RunMismatchError, _order, train
from harness.train.trainable import make_trainable
from tests.dlan_fixture import write_dlan

TARGETS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def trained(dlan, private_dirs):
    return train("tiny", dlan, private_dirs / "tiny-run", recipe="lora-cpu", max_steps=4, progress=False)


def _inputs(loaded, dlan):
    item = training_items(dlan, "verbalized")[2]
    images = [Image.open(p).convert("RGB") for p in item.images]
    return loaded.build_inputs(item.prompt, images, item.target)


def _logits(loaded, inputs):
    with torch.no_grad():
        return loaded.model(**inputs).logits


def test_lora_wraps_exactly_the_language_models_linear_layers():
    base = load_model("tiny").model
    n_layers = base.config.text_config.num_hidden_layers
    net = make_trainable(base, replace(load_recipe("lora-paper"), train_projector=True))
    wrapped = {name for name, module in net.named_modules() if hasattr(module, "lora_A")}
    assert len(wrapped) == n_layers * len(TARGETS)
    assert {name.rsplit(".", 1)[-1] for name in wrapped} == TARGETS
    assert all("language_model" in name and "vision_tower" not in name for name in wrapped)
    for name, p in net.named_parameters():
        if p.requires_grad:
            assert ("lora_" in name and "language_model" in name) or \
                   ("multi_modal_projector" in name and "modules_to_save" in name), name
    assert any(p.requires_grad for n, p in net.named_parameters() if "multi_modal_projector" in n)


def test_paper_recipe_trains_lora_only_and_full_leaves_the_vision_tower():
    net = make_trainable(load_model("tiny").model, load_recipe("lora-paper"))
    assert all("lora_" in n for n, p in net.named_parameters() if p.requires_grad)
    full = make_trainable(load_model("tiny").model, replace(load_recipe("lora-paper"), method="full"))
    for name, p in full.named_parameters():
        assert p.requires_grad == ("vision_tower" not in name and ("language_model" in name or "lm_head" in name)), name


def test_adapter_reloads_to_identical_logits(trained, dlan):
    reloaded = load_model("tiny", adapter=trained.adapter_dir)
    inputs = _inputs(reloaded, dlan)
    # the training state, rebuilt independently from the last checkpoint's trainable weights
    recipe = load_recipe("lora-cpu")
    net = make_trainable(load_model("tiny").model, recipe)
    weights = load_file(str(trained.out / "checkpoints" / f"step-{trained.steps:07d}" / "trainable.safetensors"))
    net.load_state_dict(weights, strict=False)
    net.eval()
    with torch.no_grad():
        want = net(**inputs).logits
    assert torch.allclose(_logits(reloaded, inputs), want, atol=1e-6)
    assert not torch.allclose(_logits(load_model("tiny"), inputs), want, atol=1e-4)  # training changed something


def test_vision_tower_frozen_and_projector_trained(trained, dlan):
    base = load_model("tiny").model.state_dict()
    tuned = load_model("tiny", adapter=trained.adapter_dir)
    merged = tuned.model.merge_and_unload().state_dict()
    vision = [k for k in base if "vision_tower" in k]
    assert vision and all(torch.equal(base[k], merged[k]) for k in vision)
    proj = "model.multi_modal_projector.mm_input_projection_weight"
    assert not torch.equal(base[proj], merged[proj])


def test_adapter_carries_its_spec_recipe_and_log(trained, private_dirs):
    from omegaconf import OmegaConf

    model_yaml = OmegaConf.load(trained.adapter_dir / "model.yaml")
    assert model_yaml.base == "embedded:tiny" and model_yaml.adapter == str(trained.adapter_dir.resolve())
    assert OmegaConf.load(trained.adapter_dir / "recipe.yaml").max_steps == 4
    rows = read_rows(trained.out / "log.csv", TrainLogRow)
    assert [r.step for r in rows] == [1, 2, 3, 4]
    opt = load_recipe("lora-cpu").optimizer  # transformers' linear schedule with warm-up, after each step

    def lr(s: int) -> float:
        w = opt.warmup_steps
        return opt.lr * (s / w if s < w else max(0.0, (4 - s) / max(1, 4 - w)))

    assert [r.lr for r in rows] == pytest.approx([lr(s) for s in (1, 2, 3, 4)])
    assert all(r.tokens > 0 and r.loss > 0 for r in rows)
    assert read_rows(private_dirs / "results" / "train" / "tiny-run.csv", TrainLogRow) == rows
    assert trained.first_loss == rows[0].loss and trained.last_loss == rows[-1].loss
    # each row names the environment that produced it; the sidecar beside the log spells it out
    (env,) = {r.env for r in rows}
    sidecar = json.loads((trained.out / "environments.json").read_text())
    assert sidecar[env]["device"] == "cpu" and sidecar[env]["dtype"] == "float32"


def test_rerun_of_a_finished_run_does_nothing_and_changed_settings_are_refused(trained, dlan):
    again = train("tiny", dlan, trained.out, recipe="lora-cpu", max_steps=4, progress=False)
    assert again.already_done and again.steps == 4
    with pytest.raises(RunMismatchError, match="recipe"):
        train("tiny", dlan, trained.out, recipe="lora-cpu", max_steps=5, progress=False)


def test_least_likely_targets_are_token_ids(dlan, tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    loaded = load_model("tiny")
    tokens = least_likely_tokens(loaded)
    items = training_items(dlan, "least_likely", tokens)
    action = next(it for it in items if it.prompt.stage == "action")
    digits = next(e for e in read_examples(dlan) if e.example_id == action.example_id).action_digits
    assert action.target is None and list(action.target_ids) == [tokens.ids[int(d)] for d in digits]
    plan = next(it for it in items if it.prompt.stage == "plan")
    assert plan.target_ids is None and plan.target
    blank = [Image.new("RGB", (8, 8))]
    labels = loaded.build_inputs(action.prompt, blank, target_ids=action.target_ids)["labels"][0]
    assert labels[labels != IGNORE_INDEX].tolist() == list(action.target_ids) + [loaded.end_of_turn_id]


def test_a_killed_run_resumes_where_it_stopped(tmp_path, experiments_copy, private_dirs):
    (experiments_copy / "recipes" / "resume.yaml").write_text(
        "method: lora\nbatch_size: 2\neffective_batch: 4\nmax_steps: 8\nsave_every: 2\nprecision: fp32\n"
        "optimizer: {lr: 1.0e-3}\nmax_length: 512\n")
    data = write_dlan(tmp_path / "dlan", episodes=2)
    reference = train("tiny", data, tmp_path / "reference", recipe="resume", progress=False)
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    cmd = [sys.executable, "-m", "harness.cli.main", "train", "--model", "tiny", "--recipe", "resume", "--data",
           str(data), "--out", str(out), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (out / "checkpoints" / "step-0000002" / "state.json").exists():
            assert proc.poll() is None, "the training process ended before its first checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not (out / "adapter").exists(), "the run finished before it could be killed"
    # the run's clock is part of its checkpoint: a resumed run keeps counting (shifted here to make it visible)
    for state in (out / "checkpoints").glob("step-*/state.json"):
        saved = json.loads(state.read_text())
        assert saved["elapsed_s"] > 0
        state.write_text(json.dumps({**saved, "elapsed_s": saved["elapsed_s"] + 1000.0}))
    resumed = train("tiny", data, out, recipe="resume", progress=False)
    assert resumed.resumed_from >= 2 and resumed.steps == 8
    got, want = read_rows(out / "log.csv", TrainLogRow), read_rows(reference.out / "log.csv", TrainLogRow)
    assert [r.step for r in got] == list(range(1, 9))
    assert [r.loss for r in got] == pytest.approx([r.loss for r in want], rel=1e-4)
    assert [r.lr for r in got] == pytest.approx([r.lr for r in want])  # the schedule continues, not restarts
    assert [r.tokens for r in got] == [r.tokens for r in want]  # same batches in the same order
    elapsed = [r.elapsed_s for r in got]
    assert elapsed == sorted(elapsed) and all((e >= 1000) == (i >= resumed.resumed_from) for i, e in enumerate(elapsed))
    a = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(reference.adapter_dir / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_cli_trains_and_explains_missing_data(dlan, tmp_path, private_dirs):
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--model", "tiny", "--recipe", "lora-cpu", "--data", str(dlan),
                                 "--out", str(tmp_path / "cli"), "--max-steps", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "trained: 1 steps" in result.output and (tmp_path / "cli" / "adapter" / "adapter_config.json").is_file()
    result = runner.invoke(app, ["train", "--model", "tiny", "--data", str(tmp_path / "nothing"),
                                 "--out", str(tmp_path / "cli2")])
    assert result.exit_code == 2 and "vlm2vla data build" in result.output


def test_spec_default_out_and_recipe():
    from harness.train.recipe import default_out, resolve_recipe

    spec = load_spec("vlm2vla")
    assert default_out(spec).name == "vlm2vla"
    r = resolve_recipe(spec, None, 3, True)
    assert (r.name, r.max_steps, r.method) == ("lora-paper", 3, "full")


def test_paper_recipe_runs_with_bf16_autocast_and_checkpointing(dlan, tmp_path, private_dirs):
    result = train("tiny", dlan, tmp_path / "paper", recipe="lora-paper", max_steps=1, progress=False)
    assert result.steps == 1 and set(result.trainable) == {"lora"}
    assert torch.isfinite(torch.tensor(result.last_loss))
    tuned = load_model("tiny", adapter=result.adapter_dir)
    assert isinstance(tuned.generate(["move forward"], max_new_tokens=3), str)


def test_full_fine_tuning_saves_a_whole_model_that_reloads(dlan, tmp_path, experiments_copy, private_dirs):
    # no warm-up: the one step must move the weights (a warm-up's first step has learning rate 0)
    (experiments_copy / "recipes" / "one.yaml").write_text("method: lora\nprecision: fp32\noptimizer: {lr: 1.0e-3}\n")
    result = train("tiny", dlan, tmp_path / "full", recipe="one", max_steps=1, full=True, progress=False)
    assert "lora" not in result.trainable and "vision_tower" not in result.trainable
    assert (result.adapter_dir / "config.json").is_file() and (result.adapter_dir / "recipe.yaml").is_file()
    tuned, base = load_model("tiny", adapter=result.adapter_dir), load_model("tiny")
    assert not hasattr(tuned.model, "peft_config")
    inputs = _inputs(base, dlan)
    assert not torch.allclose(_logits(tuned, inputs), _logits(base, inputs), atol=1e-4)


def test_a_step_is_the_mean_over_its_target_tokens_however_it_is_split(dlan, tmp_path, experiments_copy,
                                                                        private_dirs):
    """batch 4 x grad-accum 1 and batch 1 x grad-accum 4 are the same optimiser steps (same loss, same weights):
    a micro-batch with a 1-token answer does not weigh as much as one with a long action chunk."""
    common = "method: lora\nlora: {dropout: 0.0}\nmax_steps: 3\nprecision: fp32\noptimizer: {lr: 1.0e-3}\n"
    (experiments_copy / "recipes" / "whole.yaml").write_text(common + "batch_size: 4\neffective_batch: 4\n")
    (experiments_copy / "recipes" / "split.yaml").write_text(common + "batch_size: 1\neffective_batch: 4\n")
    whole = train("tiny", dlan, tmp_path / "whole", recipe="whole", progress=False)
    split = train("tiny", dlan, tmp_path / "split", recipe="split", progress=False)
    got, want = read_rows(split.out / "log.csv", TrainLogRow), read_rows(whole.out / "log.csv", TrainLogRow)
    assert [r.tokens for r in got] == [r.tokens for r in want]  # the same examples in each step
    assert [r.loss for r in got] == pytest.approx([r.loss for r in want], rel=1e-4)
    # step 1's loss is transformers' own token mean over the step's 4 examples (LoRA starts as the identity)
    loaded = load_model("tiny")
    items = training_items(dlan, "verbalized")
    first = [TrainDataset(loaded, items)[i] for i in _order(len(items), 0, 0)[:4]]
    batch = collate(loaded.tokenizer.pad_token_id)(first)
    assert len({int((r["labels"] != IGNORE_INDEX).sum()) for r in first}) > 1  # answers of different lengths
    with torch.no_grad():
        assert want[0].loss == pytest.approx(float(loaded.model(**batch).loss), rel=1e-4)
    a = load_file(str(split.adapter_dir / "adapter_model.safetensors"))
    b = load_file(str(whole.adapter_dir / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
