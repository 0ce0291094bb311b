"""D_lan examples as training inputs: the prompt, its observation images and the target of the representation.

Targets come from the one decomposition in D_lan; only how an action chunk is written differs between
representations: verbalized text is tokenized, least-likely digits become the model's 10 chosen token ids directly
(never re-tokenized). Examples are encoded lazily, one at a time, so a large D_lan is never held in memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.dlan import read_examples
from harness.data.templates import Prompt
from harness.models.loaded import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

    from harness.actions import LeastLikelyTokens
    from harness.models.loaded import LoadedModel


@dataclass(frozen=True)
class TrainItem:
    example_id: str
    prompt: Prompt
    images: tuple[Path, ...]
    target: str | None  # text target, or
    target_ids: tuple[int, ...] | None  # pre-tokenized target (least-likely action tokens)


def training_items(data_dir: str | Path, representation: str, tokens: LeastLikelyTokens | None = None, *,
                   split: str = "train") -> list[TrainItem]:
    """A split of D_lan (the train split by default), with targets for `representation` ('verbalized' or
    'least_likely')."""
    data_dir = Path(data_dir)
    if representation == "least_likely" and tokens is None:
        raise ValueError("the least-likely representation needs the model's chosen tokens")
    items = []
    for ex in read_examples(data_dir, split=split):
        target, target_ids = ex.target_for(representation), None
        if representation == "least_likely" and ex.stage == "action":
            if not ex.action_digits.isdigit():
                raise ValueError(f"{data_dir}: example {ex.example_id} has no least-likely digits "
                                 f"({ex.action_digits!r}); rebuild D_lan with `vlm2vla data build`")
            target, target_ids = None, tuple(tokens.ids[int(d)] for d in ex.action_digits)
        images = tuple(data_dir / p for p in ex.images)
        items.append(TrainItem(ex.example_id, Prompt(ex.stage, ex.prompt, images=len(images)), images, target,
                               target_ids))
    return items


def encoded_length(loaded: LoadedModel, item: TrainItem) -> int:
    """Token count of an encoded item without loading its images (image placeholders have a fixed length)."""
    from PIL import Image

    blank = [Image.new("RGB", (8, 8))] * len(item.images)
    return int(loaded.build_inputs(item.prompt, blank, item.target, target_ids=item.target_ids)["input_ids"].shape[1])


class TrainDataset:
    """Map-style dataset: index -> model inputs of one item (batch dimension removed)."""

    def __init__(self, loaded: LoadedModel, items: Sequence[TrainItem]):
        self.loaded, self.items = loaded, list(items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from PIL import Image

        item = self.items[index]
        images = []
        for path in item.images:
            try:
                with Image.open(path) as im:
                    images.append(im.convert("RGB"))
            except OSError as e:
                raise OSError(f"D_lan example {item.example_id}: cannot read image {path}: {e}") from e
        inputs = self.loaded.build_inputs(item.prompt, images, item.target, target_ids=item.target_ids)
        return {k: (v if k == "pixel_values" else v[0]) for k, v in inputs.items()}


def collate(pad_id: int):
    """Right-pad a list of encoded items into one batch (labels padded with -100, images concatenated)."""

    def fn(rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(r["input_ids"].shape[0] for r in rows)
        pads = {"input_ids": pad_id, "attention_mask": 0, "labels": IGNORE_INDEX, "token_type_ids": 0}
        batch: dict[str, Any] = {}
        for key, value in pads.items():
            if key in rows[0]:
                batch[key] = torch.stack([torch.nn.functional.pad(r[key], (0, width - r[key].shape[0]), value=value)
                                          for r in rows])
        if "pixel_values" in rows[0]:
            batch["pixel_values"] = torch.cat([r["pixel_values"] for r in rows])
        return batch

    return fn
