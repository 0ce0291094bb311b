"""A random-weight checkpoint with Gemma-3-12B-IT's published architecture and the real Gemma-3 tokenizer.

Values are those of google/gemma-3-12b-it's config.json (text: 48 layers, hidden 3840, MLP 15360, 16 query and 8
key-value heads of 256, vocabulary 262208, sliding window 1024 on 5 of every 6 layers; vision: SigLIP-So400m with 27
layers of 1152, 896 px in 14 px patches, pooled to 256 image tokens). RoPE settings are left at the installed
transformers' defaults (their names changed across 5.x; they do not change the cost of a forward pass).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

from harness.models.vision import VisionTower, make_processor, vlm_config

TEXT = dict(vocab_size=262208, hidden_size=3840, intermediate_size=15360, num_hidden_layers=48,
            num_attention_heads=16, num_key_value_heads=8, head_dim=256, sliding_window=1024,
            query_pre_attn_scalar=256, max_position_embeddings=131072)
SLIDING_PATTERN = 6  # every 6th layer attends globally
VISION = VisionTower(image_size=896, patches_per_side=64, tokens_per_side=16, hidden_size=1152, layers=27,
                     heads=16, intermediate_size=4304)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
PAPER_PARAMS = 12.2e9  # the README's memory arithmetic


def layer_types(n: int = TEXT["num_hidden_layers"]) -> list[str]:
    return ["full_attention" if (i + 1) % SLIDING_PATTERN == 0 else "sliding_attention" for i in range(n)]


def tokenizer_source(candidates: list[Path]) -> Path:
    """The first directory holding the Gemma-3 tokenizer (tokenizer.json or its .gz, and tokenizer_config.json)."""
    for d in candidates:
        if (d / "tokenizer_config.json").is_file() and any((d / n).is_file() for n in
                                                            ("tokenizer.json", "tokenizer.json.gz")):
            return d
    raise FileNotFoundError("no Gemma-3 tokenizer in " + ", ".join(map(str, candidates)) + ": run `make gpu-wheels` "
                            "on a machine where `vlm2vla models build gemma3-270m` has run (it copies the tokenizer "
                            "into .whl/gemma3-tokenizer)")


def load_tokenizer(src: Path, work: Path) -> Any:
    """The real Gemma-3 tokenizer from `src` (a brought-along .gz is unpacked into `work` first)."""
    from transformers import AutoTokenizer

    if not (src / "tokenizer.json").is_file():
        work.mkdir(parents=True, exist_ok=True)
        with gzip.open(src / "tokenizer.json.gz", "rb") as fin, open(work / "tokenizer.json", "wb") as fout:
            shutil.copyfileobj(fin, fout)
        shutil.copy(src / "tokenizer_config.json", work / "tokenizer_config.json")
        src = work
    return AutoTokenizer.from_pretrained(src, local_files_only=True)


def config(tokenizer: Any, *, num_hidden_layers: int | None = None) -> Any:
    """The Gemma-3-12B-IT config (`num_hidden_layers` shrinks it for the CPU smoke test only)."""
    from transformers import Gemma3TextConfig

    layers = num_hidden_layers or TEXT["num_hidden_layers"]
    text = Gemma3TextConfig(**{**TEXT, "num_hidden_layers": layers}, layer_types=layer_types(layers),
                            tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
                            eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    return vlm_config(text, VISION, tokenizer)


def build(dst: Path, tokenizer: Any, device: str, *, num_hidden_layers: int | None = None) -> int:
    """Write a random bf16 checkpoint + processor to `dst`, initialised on `device`; returns its parameter count."""
    import torch
    from transformers import Gemma3ForConditionalGeneration

    cfg = config(tokenizer, num_hidden_layers=num_hidden_layers)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        torch.manual_seed(0)
        with torch.device(device):
            model = Gemma3ForConditionalGeneration(cfg)
    finally:
        torch.set_default_dtype(previous)
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, end_of_turn]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    n = sum(p.numel() for p in model.parameters())
    model.save_pretrained(dst)
    make_processor(tokenizer, VISION.image_size, VISION.mm_tokens_per_image).save_pretrained(dst)
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return n
