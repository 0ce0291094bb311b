"""A loaded Gemma-3 model with the few operations every stage needs: render and encode prompts, build training inputs,
generate.

Prompts are rendered only through the model's chat template from `harness.data.templates.Prompt`, the same way in
training (`build_inputs`) and inference (`generate`), so the text a model is trained on and the text it is prompted
with cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.data.templates import Prompt
from harness.models.chat_template import END_OF_TURN
from harness.specs.model import ModelSpec

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from harness.specs.actions import ActionReprSpec

IGNORE_INDEX = -100  # label value the loss skips (prompt, image and padding positions)
Content = Sequence["Image.Image | str"]


def prompt_content(prompt: Prompt, images: Sequence[Image.Image]) -> list[Image.Image | str]:
    """The user turn of a template prompt: its observation images, then its text (as `templates.to_messages`)."""
    if len(images) != prompt.images:
        raise ValueError(f"the {prompt.stage!r} prompt takes {prompt.images} image(s), got {len(images)}")
    return [*images, prompt.text]


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: Any  # transformers model; a peft PeftModel when an adapter is loaded
    processor: Any
    tokenizer: Any
    device: str
    base_dir: Path | None = None  # local directory of the base checkpoint (None when unknown)
    adapter_dir: Path | None = None  # the adapter (or full fine-tuned model) loaded on top of the base, if any

    # ------------------------------------------------------------------ tokens
    @property
    def end_of_turn_id(self) -> int:
        return int(self.tokenizer.convert_tokens_to_ids(END_OF_TURN))

    @property
    def stop_ids(self) -> list[int]:
        """Generation stops at <end_of_turn> (the chat format) or <eos>."""
        return [self.end_of_turn_id, int(self.tokenizer.eos_token_id)]

    def base_model(self) -> Any:
        """The transformers model underneath any peft wrapper."""
        return self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model

    # ------------------------------------------------------------------ inputs
    def render(self, content: Content, target: str | None = None) -> tuple[str, list[Image.Image]]:
        """Chat-template text of one user turn (images and text in order) + generation prompt, and its images."""
        parts: list[dict[str, Any]] = []
        images = []
        for item in content:
            if isinstance(item, str):
                parts.append({"type": "text", "text": item})
            else:
                parts.append({"type": "image"})
                images.append(item)
        messages = [{"role": "user", "content": parts}]
        return self.processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False), images

    def encode(self, texts: list[str], images: list[list[Image.Image]]) -> dict[str, torch.Tensor]:
        """Processor inputs (on the CPU) for rendered texts, each with its images: a batch padded on the tokenizer's
        side; every prompt of a batch has images, or none has."""
        kwargs: dict[str, Any] = {"text": texts, "return_tensors": "pt", "padding": True, "add_special_tokens": False}
        if any(images):
            if not all(images):
                raise ValueError("a batch mixes prompts with and without images; generate them separately")
            kwargs["images"] = [[im.convert("RGB") for im in ims] for ims in images]
        out = dict(self.processor(**kwargs))
        out.pop("num_crops", None)
        return out

    def on_device(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """`encode`'s inputs moved to the model's device, the images in the model's dtype (the vision tower's)."""
        placed = {k: v.to(self.device) for k, v in inputs.items()}
        if "pixel_values" in placed:
            placed["pixel_values"] = placed["pixel_values"].to(self.dtype)
        return placed

    def build_inputs(self, prompt: Prompt, images: Sequence[Image.Image], target: str | None = None, *,
                     target_ids: Sequence[int] | None = None) -> dict[str, torch.Tensor]:
        """Model inputs (batch of one) for `prompt` with its observation images; with a target, `labels` too.

        Labels are -100 on every prompt position (images included), so the loss covers the target tokens and the
        closing <end_of_turn> only. `target_ids` passes pre-tokenized targets (least-likely tokens are never
        re-tokenized).
        """
        import torch

        text, images = self.render(prompt_content(prompt, images))
        inputs = self.encode([text], [images])
        if target is None and target_ids is None:
            return inputs
        if target is not None and target_ids is not None:
            raise ValueError("pass either target text or target_ids, not both")
        ids = list(target_ids) if target_ids is not None else self.tokenizer.encode(target, add_special_tokens=False)
        answer = torch.tensor([ids + [self.end_of_turn_id]], dtype=torch.long)
        n_prompt = inputs["input_ids"].shape[1]
        inputs["input_ids"] = torch.cat([inputs["input_ids"], answer], dim=1)
        inputs["attention_mask"] = torch.cat([inputs["attention_mask"], torch.ones_like(answer)], dim=1)
        if "token_type_ids" in inputs:
            inputs["token_type_ids"] = torch.cat([inputs["token_type_ids"], torch.zeros_like(answer)], dim=1)
        labels = inputs["input_ids"].clone()
        labels[:, :n_prompt] = IGNORE_INDEX
        inputs["labels"] = labels
        return inputs

    # ------------------------------------------------------------------ generation
    def generate_prompt(self, prompt: Prompt, images: Sequence[Image.Image], **options: Any) -> str:
        """`generate` for a template prompt, laid out exactly as `build_inputs` lays it out for training."""
        return self.generate(prompt_content(prompt, images), **options)

    def generate(self, content: Content, *, max_new_tokens: int = 64, temperature: float = 0.0, top_p: float = 1.0,
                 top_k: int = 0, seed: int | None = None) -> str:
        """One user turn (images and text interleaved in order) -> the new text only; greedy when temperature == 0."""
        return self.generate_batch([content], max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                                   top_k=top_k, seed=seed)[0]

    def generate_batch(self, contents: Sequence[Content], *, max_new_tokens: int = 64, temperature: float = 0.0,
                       top_p: float = 1.0, top_k: int = 0, seed: int | None = None) -> list[str]:
        """`generate` for several turns at once (left padding); under greedy decoding each output equals `generate`.

        Sampling is exactly temperature, `top_k` (0 = off) and `top_p`, passed explicitly: transformers fills any
        option left None from the checkpoint's generation config (gemma-3-12b-it: top_k 64) or its global default
        (top_k 50), so the naive baseline would sample a different distribution than the spec says."""
        import torch

        if not contents:
            return []
        rendered = [self.render(c) for c in contents]
        padding_side = self.processor.tokenizer.padding_side
        self.processor.tokenizer.padding_side = "left"
        try:
            inputs = self.encode([t for t, _ in rendered], [ims for _, ims in rendered])
        finally:
            self.processor.tokenizer.padding_side = padding_side
        inputs = self.on_device(inputs)
        sample = temperature > 0
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample,
                                   "eos_token_id": self.stop_ids, "pad_token_id": int(self.tokenizer.pad_token_id)}
        if sample:
            options.update(temperature=temperature, top_p=top_p, top_k=int(top_k))
        else:  # greedy runs no warper; None keeps transformers from flagging the checkpoint's sampling options
            options.update(temperature=None, top_p=None, top_k=None)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                if seed is not None:
                    torch.manual_seed(seed)
                out = self.model.generate(**inputs, **options)
        finally:
            self.model.train(was_training)
        new = out[:, inputs["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the model's weights (its inputs' floating tensors are cast to it)."""
        return next(self.model.parameters()).dtype

    # ------------------------------------------------------------------ actions
    def action_spec(self) -> ActionReprSpec:
        """The spec's action representation (experiments/actions/<action_repr>.yaml). Its codec and least-likely
        tokens depend on the weights, so they are functions of a loaded model (`harness.models.codec.action_codec`,
        `harness.models.least_likely.least_likely_tokens`), not parts of it."""
        from harness.specs import load_actions

        return load_actions(self.spec.action_repr)
