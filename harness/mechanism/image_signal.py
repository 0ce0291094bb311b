"""Does a model see the scene? How much of the difference between scenes survives into its image tokens and outputs.

A policy that must find the target in the image learns nothing from an image pathway that hands the language model
(nearly) the same tokens for every scene. Measured on D_lan examples of one stage, each with its own image:

- variation at each point of the pathway (pixels, vision tower output, projected image tokens): the mean distance of
  a scene's features from the mean over the scenes, relative to the norm of that mean (0: every scene looks the
  same to the model from that point on);
- the shift of the next-token log-probabilities (max |Δ| over the vocabulary) when an example's own image is swapped
  for another example's, and for a black image (a scale for "no scene at all").

The simulator experiment (issue 20) used it to find why its policies answered every scene with the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from harness.data.dlan import read_examples

if TYPE_CHECKING:
    from harness.models.loaded import LoadedModel


@dataclass(frozen=True)
class ImageSignal:
    n: int  # examples (scenes) measured
    variation: dict[str, float]  # pixels | tower | projected -> relative across-scene variation
    swap_shift: float  # mean over examples of max |Δ log-prob| of the next token, own image -> another scene's
    blank_shift: float  # the same, own image -> a black image


def _variation(features: torch.Tensor) -> float:
    flat = features.flatten(1).float()
    mean = flat.mean(0, keepdim=True)
    return ((flat - mean).norm(dim=1).mean() / mean.norm()).item()


def _parts(loaded: LoadedModel) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The vision tower and the projector of a Gemma-3 VLM (under a peft wrapper or not)."""
    inner = loaded.base_model().model
    return inner.vision_tower, inner.multi_modal_projector


def image_signal(loaded: LoadedModel, data_dir: str | Path, *, stage: str = "plan", split: str = "heldout",
                 limit: int = 16) -> ImageSignal:
    """Measure on the first `limit` examples of `stage` in a D_lan split that carry one image each."""
    examples = [e for e in read_examples(data_dir, split=split, stage=stage) if len(e.images) == 1][:limit]
    if len(examples) < 2:
        raise ValueError(f"{data_dir}: {len(examples)} {split} example(s) of stage {stage!r} with one image; the "
                         "measure compares scenes, so it needs at least 2 (pass another --stage or --split)")
    images = [Image.open(Path(data_dir) / e.images[0]).convert("RGB") for e in examples]
    tower, projector = _parts(loaded)
    pixels = loaded.processor.image_processor(images, return_tensors="pt")["pixel_values"]
    pixels = pixels.to(loaded.device, next(tower.parameters()).dtype)

    def next_logprobs(example, image: Image.Image) -> torch.Tensor:
        text, imgs = loaded.render([image, example.prompt])
        out = loaded.model(**loaded.on_device(loaded.encode([text], [imgs])))
        return out.logits[0, -1].float().log_softmax(-1)

    with torch.no_grad():
        features = tower(pixel_values=pixels).last_hidden_state
        projected = projector(features)
        blank = Image.new("RGB", images[0].size)
        swaps, blanks = [], []
        for i, example in enumerate(examples):
            own = next_logprobs(example, images[i])
            swaps.append((next_logprobs(example, images[(i + 1) % len(images)]) - own).abs().max().item())
            blanks.append((next_logprobs(example, blank) - own).abs().max().item())
    return ImageSignal(len(examples), {"pixels": _variation(pixels), "tower": _variation(features),
                                       "projected": _variation(projected)},
                       sum(swaps) / len(swaps), sum(blanks) / len(blanks))
