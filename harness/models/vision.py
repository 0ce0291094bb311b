"""The small SigLIP vision tower grafted onto the embedded Gemma-3 models, and their processor.

Gemma-3-12B sees 896 px images as 256 soft tokens through a 400M SigLIP tower; that is far too slow to train on a
CPU. The embedded models get a randomly initialised SigLIP of the same architecture, sized so an image costs a
handful of tokens (`tokens_per_side`² after Gemma-3's average pooling), and a zero projector: until it is trained
an image contributes nothing, so the language model behaves exactly as it did before the graft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.models.chat_template import GEMMA3_CHAT_TEMPLATE


@dataclass(frozen=True)
class VisionTower:
    image_size: int
    patches_per_side: int  # image_size // patch_size
    tokens_per_side: int  # after pooling: mm_tokens_per_image = tokens_per_side ** 2
    hidden_size: int
    layers: int
    heads: int
    intermediate_size: int

    def __post_init__(self) -> None:
        if self.image_size % self.patches_per_side or self.patches_per_side % self.tokens_per_side:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patches_per_side "
                             f"{self.patches_per_side}, itself a multiple of tokens_per_side {self.tokens_per_side}")

    @property
    def patch_size(self) -> int:
        return self.image_size // self.patches_per_side

    @property
    def mm_tokens_per_image(self) -> int:
        return self.tokens_per_side**2

    def siglip_config(self) -> Any:
        from transformers import SiglipVisionConfig

        return SiglipVisionConfig(
            hidden_size=self.hidden_size, intermediate_size=self.intermediate_size, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, image_size=self.image_size, patch_size=self.patch_size,
            vision_use_head=False)


def vlm_config(text_config: Any, tower: VisionTower, tokenizer: Any) -> Any:
    """A Gemma-3 VLM config around an existing text config; image token ids come from the tokenizer."""
    from transformers import Gemma3Config

    return Gemma3Config(
        text_config=text_config.to_dict(), vision_config=tower.siglip_config().to_dict(),
        mm_tokens_per_image=tower.mm_tokens_per_image, boi_token_index=tokenizer.boi_token_id,
        eoi_token_index=tokenizer.eoi_token_id, image_token_index=tokenizer.image_token_id,
        tie_word_embeddings=getattr(text_config, "tie_word_embeddings", True))


def make_processor(tokenizer: Any, image_size: int, mm_tokens_per_image: int) -> Any:
    """Gemma-3 processor with the PIL image backend (no torchvision needed) and the IT chat template."""
    from transformers import Gemma3ImageProcessorPil, Gemma3Processor

    tokenizer.chat_template = GEMMA3_CHAT_TEMPLATE
    image_processor = Gemma3ImageProcessorPil(size={"height": image_size, "width": image_size})
    return Gemma3Processor(image_processor=image_processor, tokenizer=tokenizer, chat_template=GEMMA3_CHAT_TEMPLATE,
                           image_seq_length=mm_tokens_per_image)
