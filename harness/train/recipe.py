"""The training recipe, top to bottom: setup -> train -> save -> cleanup.

    vlm2vla train --model gemma3-270m --recipe lora-cpu --data results/data/dlan --out runs/gemma3-270m-vlm2vla
    accelerate launch --config_file experiments/accelerate/zero2.yaml -m harness.cli.main train --model vlm2vla ...

One explicit loop over optimiser steps (AdamW, linear decay, gradient accumulation through accelerate, so the same
code runs on a CPU, one GPU or 4 GPUs with DeepSpeed ZeRO-2). The recipe states the effective batch; accumulation is
derived from the number of processes, and the gradient norm is clipped to the recipe's `max_grad_norm` on every path
(written into DeepSpeed's config too). A step's loss is the mean over all the target tokens of its micro-batches on
all processes, whatever batch_size x accumulation x processes it is split into (as one big batch would give). The data order is a fixed permutation per epoch (seeded), so a killed run re-run with the same command
resumes from its last checkpoint and sees exactly the batches it would have seen. Loss and learning rate go to
`<out>/log.csv` and `results/train/<run>.csv` every logged step.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from harness.data.dlan import shard_paths
from harness.models import load_model
from harness.models.check import write_reference
from harness.models.least_likely import TOKEN_FILE, run_tokens
from harness.paths import REPO_ROOT, results_dir, runs_dir
from harness.records import TrainLogRow, append_rows, read_rows, write_rows
from harness.records.atomic import fresh_tmp_dir, replace_dir
from harness.records.environment import env_of
from harness.records.fingerprint import pin_fingerprint
from harness.specs import load_model as load_model_spec
from harness.specs import load_recipe
from harness.specs.model import ModelSpec
from harness.specs.recipe import RecipeSpec
from harness.train import checkpoint
from harness.train.data import TrainDataset, collate, encoded_length, training_items
from harness.train.distributed import configure_deepspeed
from harness.train.loss import target_count, target_loss
from harness.train.trainable import make_trainable, trainable_counts


class RunMismatchError(RuntimeError):
    """`--out` holds a run made with other settings; resuming it would mix two experiments."""


@dataclass
class TrainResult:
    out: Path
    adapter_dir: Path
    steps: int
    examples: int
    skipped_too_long: int
    first_loss: float | None
    last_loss: float | None
    wall_s: float
    resumed_from: int  # optimiser step the run resumed from (0 = fresh)
    trainable: dict[str, int]
    already_done: bool = False


def default_out(spec: ModelSpec) -> Path:
    """runs/<dir of the spec's adapter> (e.g. runs/vlm2vla for adapter vlm2vla/adapter), else runs/<name>."""
    if spec.adapter:
        adapter = Path(spec.adapter)
        return runs_dir() / (adapter.parent if adapter.name == "adapter" else adapter)
    return runs_dir() / spec.name


def resolve_recipe(spec: ModelSpec, recipe: str | None, max_steps: int | None, full: bool) -> RecipeSpec:
    r = load_recipe(recipe or spec.recipe or "lora-paper")
    if max_steps is not None:
        r = replace(r, max_steps=max_steps)
    if full:
        r = replace(r, method="full")
    return r


def _mixed_precision(recipe: RecipeSpec) -> str:
    import torch

    if recipe.precision == "bf16" or (recipe.precision == "auto" and torch.cuda.is_available()
                                      and torch.cuda.is_bf16_supported()):
        return "bf16"
    return "no"


def _fingerprint(spec: ModelSpec, recipe: RecipeSpec, data_dir: Path) -> dict[str, Any]:
    shards = {p.name: p.stat().st_size for p in sorted((data_dir / "data").glob("train-*.parquet"))}
    return {"model": spec.name, "base": spec.base, "action_repr": spec.action_repr,
            "recipe": OmegaConf.to_container(OmegaConf.structured(recipe)), "data": str(data_dir.resolve()),
            "train_shards": shards}


def _check_run(out: Path, fingerprint: dict[str, Any]) -> None:
    diff = pin_fingerprint(out / "run.json", fingerprint)
    if diff:
        raise RunMismatchError(f"{out} holds a run with other settings ({', '.join(diff)} differ); pass a new "
                               f"--out, or delete {out} to start over")


def _order(n: int, seed: int, epoch: int) -> list[int]:
    import torch

    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).tolist()


def _micro_batches(accelerator: Any, dataset: TrainDataset, batch_size: int, seed: int, pad_id: int,
                   start: checkpoint.Position) -> Iterator[tuple[int, int, dict[str, Any]]]:
    """(epoch, micro-batches of that epoch consumed so far, batch) from `start` on, epoch after epoch, endlessly."""
    import torch
    from torch.utils.data import DataLoader

    epoch, skip = start.epoch, start.micro
    while True:
        loader = accelerator.prepare_data_loader(DataLoader(
            dataset, batch_size=batch_size, sampler=_order(len(dataset), seed, epoch),
            collate_fn=collate(pad_id), generator=torch.Generator().manual_seed(seed)))
        for micro, batch in enumerate(accelerator.skip_first_batches(loader, skip), start=skip + 1):
            yield epoch, micro, batch
        epoch, skip = epoch + 1, 0


def _truncate_log(path: Path, step: int) -> None:
    """Drop rows logged after the checkpoint we resume from (the resumed run logs them again)."""
    if path.is_file():
        write_rows(path, [r for r in read_rows(path, TrainLogRow) if r.step <= step], TrainLogRow)


def train(model: str | ModelSpec, data_dir: str | Path, out: str | Path | None = None, *, recipe: str | None = None,
          max_steps: int | None = None, full: bool = False, progress: bool = True) -> TrainResult:
    """Fine-tune `model` on the train split of the D_lan at `data_dir`; resumable, see the module docstring."""
    from accelerate.state import AcceleratorState

    try:
        return _train(model, data_dir, out, recipe=recipe, max_steps=max_steps, full=full, progress=progress)
    finally:  # accelerate's state is process-wide: let a later run in this process use another precision
        AcceleratorState._reset_state(reset_partial_state=False)


def _train(model: str | ModelSpec, data_dir: str | Path, out: str | Path | None, *, recipe: str | None,
           max_steps: int | None, full: bool, progress: bool) -> TrainResult:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import GradientAccumulationPlugin, set_seed
    from tqdm.auto import tqdm
    from transformers import get_scheduler

    t0 = time.monotonic()
    # ------------------------------------------------------------------ setup
    spec = load_model_spec(model) if isinstance(model, str) else model
    recipe_spec = resolve_recipe(spec, recipe, max_steps, full)
    data_dir = Path(data_dir)
    out = Path(out) if out is not None else default_out(spec)
    adapter_dir = out / "adapter"
    if not shard_paths(data_dir, "train"):
        raise FileNotFoundError(f"{data_dir}: no D_lan train shards under data/ (build one with `vlm2vla data build`)")
    # Steps are counted in micro-batches, not reset at an epoch's end (a step may span two epochs): every step
    # accumulates exactly grad_accum micro-batches, so accelerate's and DeepSpeed's counters agree with ours.
    accelerator = Accelerator(mixed_precision=_mixed_precision(recipe_spec), gradient_accumulation_plugin=(
        GradientAccumulationPlugin(num_steps=1, sync_with_dataloader=False)))
    # the number of processes is known once accelerate's state exists (it reads the launcher's environment)
    grad_accum = recipe_spec.grad_accum(accelerator.num_processes)
    accelerator.gradient_accumulation_steps = grad_accum
    if accelerator.state.deepspeed_plugin is not None:  # before prepare: DeepSpeed reads its batch sizes there
        configure_deepspeed(accelerator.state.deepspeed_plugin, recipe_spec, accelerator.num_processes)
    if accelerator.is_main_process:
        _check_run(out, _fingerprint(spec, recipe_spec, data_dir))
    if (adapter_dir / "train.json").is_file():
        done = json.loads((adapter_dir / "train.json").read_text())
        accelerator.print(f"{out}: already trained ({done['steps']} steps); delete it to train again")
        return TrainResult(out, adapter_dir, done["steps"], done["examples"], done["skipped_too_long"],
                           done["first_loss"], done["last_loss"], 0.0, done["steps"], done["trainable"], True)
    set_seed(recipe_spec.seed)
    loaded = load_model(replace(spec, adapter=None), device=str(accelerator.device))
    representation = loaded.action_spec().type
    with accelerator.main_process_first():  # one process chooses the least-likely tokens and keeps them in `out`
        tokens = run_tokens(loaded, out) if representation == "least_likely" else None
    items = training_items(data_dir, representation, tokens)
    kept = [it for it in items if encoded_length(loaded, it) <= recipe_spec.max_length]
    skipped = len(items) - len(kept)
    if not kept:
        raise ValueError(f"{data_dir}: no training example fits max_length {recipe_spec.max_length}")

    net = make_trainable(loaded.model, recipe_spec)
    if recipe_spec.gradient_checkpointing:  # transformers 5's name (gradient_checkpointing_* are deprecated)
        net.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        net.config.use_cache = False
    trainable = trainable_counts(net)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=recipe_spec.optimizer.lr,
                                  betas=tuple(recipe_spec.optimizer.betas), eps=recipe_spec.optimizer.eps,
                                  weight_decay=recipe_spec.optimizer.weight_decay)
    dataset = TrainDataset(loaded, kept)
    pad_id = int(loaded.tokenizer.pad_token_id)
    micro_per_epoch = math.ceil(math.ceil(len(kept) / recipe_spec.batch_size) / accelerator.num_processes)
    total_steps = recipe_spec.max_steps or math.ceil(micro_per_epoch * recipe_spec.epochs / grad_accum)
    scheduler = get_scheduler(recipe_spec.optimizer.schedule, optimizer,
                              num_warmup_steps=recipe_spec.optimizer.warmup_steps, num_training_steps=total_steps)
    pixel_dtype = next(loaded.base_model().parameters()).dtype
    net, optimizer = accelerator.prepare(net, optimizer)
    checkpoint.track(accelerator, scheduler)
    position = checkpoint.Position()
    resume = checkpoint.latest(out)
    if resume is not None:
        position = checkpoint.load(resume, accelerator, net, optimizer, scheduler)
    resumed_from = position.step
    spent = position.elapsed_s  # a resumed run's clock continues from its checkpoint, it does not restart
    run_log = results_dir() / "train" / f"{out.name}.csv"
    if accelerator.is_main_process:
        for path in (out / "log.csv", run_log):
            _truncate_log(path, position.step)
    accelerator.print(f"training {spec.name} ({recipe_spec.method}, recipe {recipe_spec.name}) on {len(kept)} "
                      f"examples ({skipped} longer than {recipe_spec.max_length} skipped); {total_steps} steps of "
                      f"{recipe_spec.effective_batch} examples ({recipe_spec.batch_size} x accumulation {grad_accum} "
                      f"x {accelerator.num_processes} processes); "
                      f"trainable {trainable}" + (f"; resuming at step {position.step}" if resumed_from else ""))

    # ------------------------------------------------------------------ train
    net.train()
    bar = tqdm(total=total_steps, initial=position.step, desc=f"train {spec.name}", disable=not progress
               or not accelerator.is_local_main_process)
    stream = _micro_batches(accelerator, dataset, recipe_spec.batch_size, recipe_spec.seed, pad_id, position)
    while position.step < total_steps:
        # One optimiser step = grad_accum micro-batches per process; its loss is the mean over all their target
        # tokens (see harness.train.loss), so each micro-batch is divided by the step's count, known up front.
        group = list(itertools.islice(stream, grad_accum))
        count = torch.tensor([sum(target_count(batch) for _, _, batch in group)], device=accelerator.device)
        per = max(int(accelerator.gather(count).sum()), 1) / (grad_accum * accelerator.num_processes)
        step_losses: list[float] = []
        step_tokens = 0
        for epoch, micro, batch in group:
            if "pixel_values" in batch:
                batch["pixel_values"] = batch["pixel_values"].to(pixel_dtype)
            with accelerator.accumulate(net):
                loss = target_loss(net, batch, per)
                accelerator.backward(loss)
                if accelerator.sync_gradients and recipe_spec.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(net.parameters(), recipe_spec.max_grad_norm)
                optimizer.step()
                optimizer.zero_grad()
            position.epoch, position.micro = epoch, micro
            step_losses.append(float(accelerator.gather(loss.detach()).mean()))
            step_tokens += int(accelerator.gather(batch["attention_mask"].sum()).sum())
        if not accelerator.sync_gradients:  # every group is exactly grad_accum micro-batches: cannot happen
            raise RuntimeError(f"step {position.step + 1}: accelerate did not sync after {len(group)} micro-batches")
        scheduler.step()
        position.step += 1
        position.last_loss = sum(step_losses) / len(step_losses)  # = the step's mean over its target tokens
        if position.first_loss is None:
            position.first_loss = position.last_loss
        position.elapsed_s = round(spent + time.monotonic() - t0, 3)
        if accelerator.is_main_process and position.step % recipe_spec.log_every == 0:
            row = TrainLogRow(step=position.step, epoch=position.epoch + position.micro / micro_per_epoch,
                              loss=position.last_loss, lr=scheduler.get_last_lr()[0], tokens=step_tokens,
                              elapsed_s=position.elapsed_s, env=env_of(loaded))
            for path in (out / "log.csv", run_log):
                append_rows(path, [row], TrainLogRow)
        bar.update(1)
        bar.set_postfix(loss=f"{position.last_loss:.4f}")
        if position.step % recipe_spec.save_every == 0 or position.step >= total_steps:
            checkpoint.save(out, accelerator, net, optimizer, scheduler, position)
    stream.close()
    bar.close()

    # ------------------------------------------------------------------ save
    wall = time.monotonic() - t0
    result = TrainResult(out, adapter_dir, position.step, len(kept), skipped, position.first_loss, position.last_loss, wall,
                         resumed_from, trainable)
    if accelerator.is_main_process:
        _save(accelerator.unwrap_model(net), loaded, spec, recipe_spec, adapter_dir, result)
    accelerator.wait_for_everyone()

    # ------------------------------------------------------------------ cleanup
    accelerator.end_training()
    return result


def _save(net: Any, loaded: Any, spec: ModelSpec, recipe: RecipeSpec, adapter_dir: Path, result: TrainResult) -> None:
    """The adapter (or, for --full, the whole model) with the model spec and recipe that produced it, and the
    least-likely token ids it was trained with (when its representation uses them)."""
    import shutil

    tmp = fresh_tmp_dir(adapter_dir)
    net.save_pretrained(tmp)
    if recipe.method == "full":
        loaded.processor.save_pretrained(tmp)
    if (adapter_dir.parent / TOKEN_FILE).is_file():
        shutil.copyfile(adapter_dir.parent / TOKEN_FILE, tmp / TOKEN_FILE)
    trained = replace(spec, adapter=str(adapter_dir.resolve()), recipe=recipe.name)
    (tmp / "model.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(trained)))
    (tmp / "recipe.yaml").write_text(OmegaConf.to_yaml(OmegaConf.structured(recipe)))
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(result).items()}
    summary["repo"] = str(REPO_ROOT)
    (tmp / "train.json").write_text(json.dumps(summary, indent=2))
    net.eval()  # greedy answers without dropout: what `vlm2vla check-model` will compare against
    write_reference(tmp, loaded)
    replace_dir(tmp, adapter_dir)
