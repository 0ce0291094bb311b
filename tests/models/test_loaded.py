"""LoadedModel on the embedded tiny Gemma-3 VLM: chat rendering, exact loss masking, generation."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from harness.data import templates as T
from harness.models import IGNORE_INDEX, load_model

PROMPT = T.action_prompt("put the carrot in the pot", "grasp the carrot", "move down")
TARGET = "move down 2.0 cm, close gripper"


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


def _image(colour=(200, 30, 30), size=(64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_prompt_renders_gemma3_turns_with_image_tokens(tiny):
    inputs = tiny.build_inputs(PROMPT, [_image()])
    text = tiny.tokenizer.decode(inputs["input_ids"][0])
    assert text.startswith("<bos><start_of_turn>user\n")
    assert text.endswith(PROMPT.text.splitlines()[-1] + "<end_of_turn>\n<start_of_turn>model\n")
    image_id = tiny.model.config.image_token_id
    n_image = int((inputs["input_ids"] == image_id).sum())
    assert n_image == tiny.model.config.mm_tokens_per_image
    assert torch.equal(inputs["token_type_ids"].bool(), inputs["input_ids"] == image_id)
    assert inputs["pixel_values"].shape[0] == 1


def test_labels_mask_every_prompt_token(tiny):
    prompt_only = tiny.build_inputs(PROMPT, [_image()])
    inputs = tiny.build_inputs(PROMPT, [_image()], TARGET)
    n = prompt_only["input_ids"].shape[1]
    want = tiny.tokenizer.encode(TARGET, add_special_tokens=False) + [tiny.end_of_turn_id]
    assert torch.equal(inputs["input_ids"][0, :n], prompt_only["input_ids"][0])
    assert inputs["input_ids"][0, n:].tolist() == want
    assert (inputs["labels"][0, :n] == IGNORE_INDEX).all()
    assert inputs["labels"][0, n:].tolist() == want
    assert tiny.tokenizer.decode(inputs["labels"][0, n:]) == TARGET + "<end_of_turn>"


def test_model_loss_is_mean_cross_entropy_over_target_tokens_only(tiny):
    inputs = tiny.build_inputs(PROMPT, [_image()], TARGET)
    with torch.no_grad():
        out = tiny.model(**inputs)
    n_target = int((inputs["labels"] != IGNORE_INDEX).sum())
    logits = out.logits[0, -n_target - 1 : -1].float()
    manual = torch.nn.functional.cross_entropy(logits, inputs["input_ids"][0, -n_target:])
    assert float(out.loss) == pytest.approx(float(manual), rel=1e-5)


def test_target_ids_are_used_verbatim(tiny):
    ids = [11, 12, 13, 11, 10]
    inputs = tiny.build_inputs(PROMPT, [_image()], target_ids=ids)
    assert inputs["labels"][0, -6:].tolist() == ids + [tiny.end_of_turn_id]
    assert int((inputs["labels"] != IGNORE_INDEX).sum()) == 6
    with pytest.raises(ValueError, match="either"):
        tiny.build_inputs(PROMPT, [_image()], TARGET, target_ids=ids)


def test_image_count_must_match_the_prompt(tiny):
    with pytest.raises(ValueError, match="takes 2 image"):
        tiny.build_inputs(T.completion_prompt("grasp the carrot"), [_image()], "yes")


def test_generate_equals_generate_batch_under_greedy(tiny):
    contents = [
        [_image((255, 0, 0)), "what is on the table?"],
        [_image((0, 0, 255), (30, 90)), "Instruction: pick up the spoon\nGive the end-effector actions."],
        [_image((0, 255, 0)), "before", _image((9, 9, 9)), "after: did the arm move left, right or none?"],
    ]
    one_by_one = [tiny.generate(c, max_new_tokens=12) for c in contents]
    assert tiny.generate_batch(contents, max_new_tokens=12) == one_by_one
    assert len(set(one_by_one)) > 1, "the outputs should differ for the comparison to mean anything"
    text_only = [["move forward"], ["Instruction: open the drawer"]]
    assert tiny.generate_batch(text_only, max_new_tokens=6) == [tiny.generate(c, max_new_tokens=6) for c in text_only]


def test_sampling_is_reproducible_with_a_seed(tiny):
    content = [_image(), "what is this?"]
    a = tiny.generate(content, max_new_tokens=10, temperature=1.0, top_p=0.95, seed=3)
    b = tiny.generate(content, max_new_tokens=10, temperature=1.0, top_p=0.95, seed=3)
    assert a == b


def test_batch_mixing_image_and_text_only_turns_is_refused(tiny):
    with pytest.raises(ValueError, match="mixes"):
        tiny.generate_batch([[_image(), "a"], ["b"]])


def test_rendering_agrees_with_the_shared_message_template(tiny):
    for prompt in (PROMPT, T.completion_prompt("lift it"), T.subtasks_prompt("pick up the spoon")):
        images = [_image()] * prompt.images
        via_templates = tiny.processor.apply_chat_template(T.to_messages(prompt), add_generation_prompt=True,
                                                           tokenize=False)
        assert tiny.render([*images, prompt.text])[0] == via_templates
    assert tiny.generate_prompt(PROMPT, [_image()], max_new_tokens=5) == tiny.generate([_image(), PROMPT.text],
                                                                                      max_new_tokens=5)


def test_sampling_follows_the_arguments_not_the_checkpoints_generation_config(tiny, monkeypatch):
    """transformers fills options left None from the checkpoint (gemma-3-12b-it: top_k 64) or its global default
    (top_k 50): the distribution must be the one asked for, top_k 0 meaning off."""
    monkeypatch.setattr(tiny.model.generation_config, "top_k", 2)
    content = [_image(), "what is this?"]

    def firsts(**options) -> set[str]:
        return {tiny.generate(content, max_new_tokens=1, temperature=2.0, top_p=1.0, seed=s, **options)
                for s in range(30)}

    assert len(firsts(top_k=0)) > 2  # off, although the checkpoint says 2
    assert len(firsts(top_k=2)) <= 2
