"""`embedded:tiny`: a tiny random Gemma-3 VLM with a small tokenizer trained offline on the project's own text.

It knows nothing, but it has every moving part of the real model (Gemma-3 text stack with sliding and global
layers, SigLIP tower, pooled projector, the Gemma special tokens and chat template), so unit tests of training,
generation and the policy exercise the real code paths in a second. Deterministic: same corpus, same seed, same
weights.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from harness.models.build_cache import cached_build
from harness.models.chat_template import END_OF_IMAGE, END_OF_TURN, IMAGE_TOKEN, START_OF_IMAGE, START_OF_TURN
from harness.models.vision import VisionTower, make_processor, vlm_config

BUILD_VERSION = 1
VOCAB_SIZE = 640
SEED = 0
# Gemma's specials in Gemma's order (pad 0, eos 1, bos 2, unk 3); the image soft token comes last, as in Gemma-3.
SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", START_OF_TURN, END_OF_TURN, START_OF_IMAGE, END_OF_IMAGE]

_INSTRUCTIONS = ["put the carrot in the pot", "pick up the spoon", "open the drawer", "move the cup to the left",
                 "put the banana on the plate", "wipe the table with the towel", "close the microwave"]
_SUBTASKS = ["reach the carrot", "grasp the carrot", "lift the carrot", "move over the pot", "release the carrot",
             "approach the spoon", "grasp the handle", "pull the drawer open"]
_PLANS = ["move down", "move left and slightly forward", "move up", "move right and down", "move forward",
          "move backward and slightly up", "close the gripper", "open the gripper"]
_VQA = ("what is the colour of the cup on the table answer yes no left right none red green blue yellow black "
        "white how many objects are there which one is bigger where is the robot arm read the text in the image "
        "the answer is option a b c d question choose the correct one a photo of a kitchen sink with a bowl").split()


def corpus() -> list[str]:
    """Text the tokenizer is trained on: every prompt template, action phrases over a grid of values, plans, VQA."""
    from harness.actions import ActionStep, VerbalizedCodec, motion_plan
    from harness.data import templates as T
    from harness.specs.actions import LeastLikelySpec

    texts: list[str] = []
    for instr, sub, plan in itertools.product(_INSTRUCTIONS, _SUBTASKS[:4], _PLANS[:4]):
        texts += [T.action_prompt(instr, sub, plan).text, T.plan_prompt(instr, sub).text]
    for instr in _INSTRUCTIONS:
        texts += [T.subtasks_prompt(instr).text, T.subtasks_target(_SUBTASKS[:3])]
    texts += [T.completion_prompt(s).text for s in _SUBTASKS] + [T.direction_prompt().text] * 4
    codec = VerbalizedCodec(0.1)
    values = [v / 1000 for v in range(-60, 61, 7)]
    for i, (dx, dy, dz) in enumerate(itertools.product(values[::2], values[1::3], values[::4])):
        step = ActionStep(dx, dy, dz, gripper=float(i % 2))
        texts += [codec.encode([step, ActionStep(dz, dx, dy, None)]), motion_plan([step])]
    texts += _PLANS + LeastLikelySpec().neutral_prompts + [" ".join(_VQA)] * 4 + ["yes", "no", "left", "right"]
    texts += ["0 1 2 3 4 5 6 7 8 9 . , ; : ? ! ' \" ( ) - \n"] * 4
    return texts


def build_tokenizer() -> Any:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # like Gemma: no dummy prefix
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE - 1, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(), trainer)
    tok.add_special_tokens([AddedToken(IMAGE_TOKEN, special=True)])
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", pair="<bos> $A $B",
                                                       special_tokens=[("<bos>", SPECIALS.index("<bos>"))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
        extra_special_tokens={"boi_token": START_OF_IMAGE, "eoi_token": END_OF_IMAGE, "image_token": IMAGE_TOKEN,
                              "sot_token": START_OF_TURN, "eot_token": END_OF_TURN})


def tower(image_size: int) -> VisionTower:
    return VisionTower(image_size=image_size, patches_per_side=4, tokens_per_side=2, hidden_size=32, layers=1,
                       heads=2, intermediate_size=64)


def _build(dst: Path, image_size: int) -> None:
    import torch
    from transformers import Gemma3ForConditionalGeneration, Gemma3TextConfig

    tokenizer = build_tokenizer()
    text = Gemma3TextConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=4096,
        sliding_window=64, layer_types=["sliding_attention", "full_attention"], initializer_range=0.2,
        tie_word_embeddings=False,  # tied + random would just echo the last input token
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id)
    vision = tower(image_size)
    config = vlm_config(text, vision, tokenizer)
    torch.manual_seed(SEED)
    model = Gemma3ForConditionalGeneration(config)
    with torch.no_grad():  # random, so that images do reach the logits of this untrained model
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 0.2)
    model.generation_config.eos_token_id = [tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TURN)]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(dst)
    make_processor(tokenizer, image_size, vision.mm_tokens_per_image).save_pretrained(dst)


def build_dir(cache: Path, image_size: int) -> Path:
    key = f"v{BUILD_VERSION}-img{image_size}"
    return cached_build(cache / "tiny" / key, lambda d: _build(d, image_size),
                        {"name": "tiny", "build_version": BUILD_VERSION, "image_size": image_size,
                         "mm_tokens_per_image": tower(image_size).mm_tokens_per_image})
