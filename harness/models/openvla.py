"""The OpenVLA / ECoT baselines: their loader behind the same registry, and OpenVLA's 256-bin action decoding.

OpenVLA (Kim et al. 2024) writes each of 7 action dimensions [dx, dy, dz, droll, dpitch, dyaw, gripper] as one of
the last 256 ids of its Llama-2 vocabulary: the action, normalised to [-1, 1] with the dataset's 1st/99th
percentiles, is binned on 256 uniform edges (`np.digitize`, so a value falls in bin 1..256) and written as token id
`vocab_size - bin`. Decoding inverts that with the off-by-one OpenVLA uses: bin = vocab_size - id - 1, clipped to
the 255 bin *centres*, so the two extreme edge ids share the outermost centre. Dimensions whose `mask` is false
(the gripper for Bridge) stay in normalised units; the others are mapped back with
`0.5 * (a + 1) * (q99 - q01) + q01`. ECoT writes its reasoning first and the same 7 action ids last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.actions.types import ActionChunk, ActionParseError, bridge_step
from harness.models.hub import ModelLoadError, local_checkpoint
from harness.models.loaded import LoadedModel
from harness.specs.model import ModelSpec

ACTION_DIM = 7
PROMPTS = {  # per the baselines' model cards (ECoT's is a Vicuna-style chat; not verifiable offline here)
    "openvla": "In: What action should the robot take to {instruction}?\nOut:",
    "ecot": "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, "
            "detailed, and polite answers to the user's questions. USER: What action should the robot take to "
            "{instruction}? ASSISTANT: TASK:",
}
BRIDGE_KEY = "bridge_orig"  # OpenVLA's un-normalisation key for BridgeData V2


@dataclass
class OpenVLABins:
    """Token ids <-> 7-D actions for OpenVLA-style models (see the module docstring for the exact convention)."""

    vocab_size: int  # the tokenizer's base vocabulary (32000 for Llama-2), not the padded embedding size
    q01: Sequence[float]
    q99: Sequence[float]
    mask: Sequence[bool] = field(default_factory=lambda: [True] * 6 + [False])
    n_bins: int = 256

    def __post_init__(self) -> None:
        self.bins = np.linspace(-1.0, 1.0, self.n_bins)
        self.bin_centers = (self.bins[:-1] + self.bins[1:]) / 2.0
        self._low, self._high = np.asarray(self.q01, float), np.asarray(self.q99, float)
        self._mask = np.asarray(self.mask, bool)
        if not (len(self._low) == len(self._high) == len(self._mask)):
            raise ValueError(f"q01, q99 and mask must have one entry per action dimension, got "
                             f"{len(self._low)}, {len(self._high)}, {len(self._mask)}")

    @property
    def action_dim(self) -> int:
        return len(self._mask)

    def normalize(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions, float)
        scaled = 2.0 * (actions - self._low) / np.maximum(self._high - self._low, 1e-8) - 1.0
        return np.where(self._mask, np.clip(scaled, -1.0, 1.0), actions)

    def unnormalize(self, normalized: np.ndarray) -> np.ndarray:
        normalized = np.asarray(normalized, float)
        return np.where(self._mask, 0.5 * (normalized + 1.0) * (self._high - self._low) + self._low, normalized)

    def encode_ids(self, actions: Sequence[float]) -> list[int]:
        """7-D action (dataset units) -> token ids, as OpenVLA's training data was written."""
        normalized = np.clip(self.normalize(np.asarray(actions, float)), -1.0, 1.0)
        return [int(i) for i in self.vocab_size - np.digitize(normalized, self.bins)]

    def decode_ids(self, ids: Sequence[int]) -> np.ndarray:
        """The last `action_dim` generated ids -> 7-D action in dataset units; ids outside the 256 action ids raise."""
        ids = np.asarray(list(ids)[-self.action_dim:], int)
        if len(ids) < self.action_dim:
            raise ActionParseError(str(list(ids)), 0, f"need {self.action_dim} action tokens, got {len(ids)}")
        bad = [int(i) for i in ids if not self.vocab_size - self.n_bins <= i < self.vocab_size]
        if bad:
            raise ActionParseError(str(ids.tolist()), 0, f"token ids {bad} are not among the {self.n_bins} action "
                                   f"ids [{self.vocab_size - self.n_bins}, {self.vocab_size})")
        discretized = np.clip(self.vocab_size - ids - 1, 0, self.bin_centers.shape[0] - 1)
        return self.unnormalize(self.bin_centers[discretized])

    def decode_chunk(self, ids: Sequence[int]) -> ActionChunk:
        """As `decode_ids`, as a one-step chunk: translation, rotation and gripper - what OpenVLA's Bridge eval sends."""
        return [bridge_step(self.decode_ids(ids))]


@dataclass
class OpenVLAModel(LoadedModel):
    """An OpenVLA-style model: `predict` turns an image and instruction into a one-step chunk."""

    unnorm_key: str = BRIDGE_KEY

    def bins(self) -> OpenVLABins:
        model = self.base_model()
        stats = getattr(model, "norm_stats", None) or getattr(model.config, "norm_stats", None) or {}
        if self.unnorm_key not in stats:
            raise ModelLoadError(f"{self.spec.base}: no action statistics for {self.unnorm_key!r} "
                                 f"(have: {', '.join(stats) or 'none'})")
        action = stats[self.unnorm_key]["action"]
        vocab = int(model.config.text_config.vocab_size - getattr(model.config, "pad_to_multiple_of", 0))
        return OpenVLABins(vocab, action["q01"], action["q99"], action.get("mask", [True] * 6 + [False]))

    def predict(self, image: Any, instruction: str, *, max_new_tokens: int | None = None) -> ActionChunk:
        import torch

        prompt = PROMPTS[self.spec.type].format(instruction=instruction.lower())
        inputs = self.processor(prompt, image.convert("RGB")).to(self.device, dtype=self.dtype)
        if self.spec.type == "openvla":  # OpenVLA's prompts end with the empty token 29871 before the actions
            inputs["input_ids"] = torch.cat([inputs["input_ids"], torch.tensor([[29871]], device=self.device)], 1)
        budget = max_new_tokens or (ACTION_DIM if self.spec.type == "openvla" else 1024)
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=budget, do_sample=False)
        new = out[0, inputs["input_ids"].shape[1]:].tolist()
        if new and new[-1] == self.tokenizer.eos_token_id:
            new = new[:-1]
        return self.bins().decode_chunk(new)


def load_openvla(spec: ModelSpec, adapter_dir: Path | None, device: str, torch_dtype: Any) -> OpenVLAModel:
    """OpenVLA's documented loading: AutoModelForVision2Seq + AutoProcessor with trust_remote_code (local only)."""
    if adapter_dir is not None:
        raise ModelLoadError(f"model {spec.name!r}: adapters are not supported for {spec.type} baselines")
    path = local_checkpoint(spec.base)
    try:
        from transformers import AutoModelForVision2Seq as auto_cls
    except ImportError:  # transformers 5 renamed the auto class
        from transformers import AutoModelForImageTextToText as auto_cls
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path, trust_remote_code=True, local_files_only=True)
    model = auto_cls.from_pretrained(path, dtype=torch_dtype, trust_remote_code=True, local_files_only=True,
                                     low_cpu_mem_usage=True).to(device)
    model.eval()
    return OpenVLAModel(spec=spec, model=model, processor=processor, tokenizer=processor.tokenizer, device=device,
                        base_dir=path)
