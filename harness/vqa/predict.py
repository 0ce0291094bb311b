"""Batched, resumable predictions for one VLMEvalKit dataset, written in VLMEvalKit's prediction-file format.

VLMEvalKit's `infer_data_job` asks the model one sample at a time. This loop builds the same prompts (the dataset
class's `build_prompt`, or the model's own when it asks for a custom prompt, exactly as `infer_data` decides), sends
them to the model `batch_size` at a time, and appends each finished batch to a JSON-lines checkpoint (flushed and
fsynced), so an interrupted run resumes at the first unanswered sample. The final file is what `infer_data_job`
writes: the dataset's rows without the `image` column plus a `prediction` column, dumped by `vlmeval.smp.dump`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.vqa import kit

kit.load()
from vlmeval.smp import dump, get_pred_file_path  # noqa: E402

from harness.records.atomic import atomic_path  # noqa: E402
from harness.vqa.adapter import HarnessVLM  # noqa: E402


def prediction_file(work_dir: Path, model_name: str, dataset_name: str) -> Path:
    """VLMEvalKit's own name for the prediction file (`{model}_{dataset}.xlsx` unless $PRED_FORMAT says else)."""
    return Path(get_pred_file_path(str(work_dir), model_name, dataset_name, use_env_format=True))


def checkpoint_file(work_dir: Path, model_name: str, dataset_name: str) -> Path:
    return work_dir / f"{model_name}_{dataset_name}_predictions.jsonl"


def read_checkpoint(path: Path) -> dict[str, str]:
    """{str(index): prediction} from a checkpoint; a torn last line (crash mid-write) is ignored."""
    done: dict[str, str] = {}
    if not path.exists():
        return done
    with path.open() as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # only the last line can be torn; its batch is asked again
            done[str(record["index"])] = record["prediction"]
    return done


def _append(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("a") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def build_message(model: HarnessVLM, dataset: Any, row: Any) -> list[dict[str, Any]]:
    """The prompt VLMEvalKit's `infer_data` would send for this row."""
    name = dataset.dataset_name
    if getattr(dataset, "force_use_dataset_prompt", False):
        return dataset.build_prompt(row)
    if model.use_custom_prompt(name):
        return model.build_prompt(row, dataset=name)
    return dataset.build_prompt(row)


def predict(model: HarnessVLM, dataset: Any, work_dir: Path, model_name: str, *, batch_size: int,
            progress: bool = True, on_batch: Callable[[int], None] | None = None) -> Path:
    """Answer every row of `dataset.data` (resuming from the checkpoint) and write the prediction file.

    `on_batch(n_done)` is called after each batch is durable (tests use it to interrupt a run).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    work_dir.mkdir(parents=True, exist_ok=True)
    name = dataset.dataset_name
    ckpt = checkpoint_file(work_dir, model_name, name)
    done = read_checkpoint(ckpt)
    data = dataset.data
    keys = [str(i) for i in data["index"]]
    todo = [i for i, k in enumerate(keys) if k not in done]
    model.set_dump_image(dataset.dump_image)
    bar = tqdm(total=len(keys), initial=len(keys) - len(todo), desc=f"{model_name}/{name}", unit="q",
               disable=not progress, leave=False)
    try:
        for batch in _chunks(todo, batch_size):
            rows = [data.iloc[i] for i in batch]
            answers = model.generate_many([build_message(model, dataset, r) for r in rows], dataset=name)
            records = [dict(index=keys[i], prediction=a) for i, a in zip(batch, answers, strict=True)]
            _append(ckpt, records)
            done.update((r["index"], r["prediction"]) for r in records)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(len(keys) - len([k for k in keys if k not in done]))
    finally:
        bar.close()
    table = data.copy()
    if "image" in table:
        table.pop("image")
    table["prediction"] = [str(done[k]) for k in keys]
    out = prediction_file(work_dir, model_name, name)
    with atomic_path(out, keep_suffix=True) as tmp:  # dump picks the format from the extension
        dump(table, str(tmp))
        if not tmp.exists():  # vlmeval's dump falls back to a .pkl when it cannot write the format
            raise RuntimeError(f"VLMEvalKit could not write {out.name} (for .xlsx it needs xlsxwriter); "
                               f"{kit.INSTALL_HINT}")
    return out
