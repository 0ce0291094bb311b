"""Fixtures of the policy tests: the tiny random VLM, one trained for a few steps to follow the action grammar."""

from __future__ import annotations

import copy
import re

import pytest
from PIL import Image

from harness.data import templates as T

INSTRUCTION = "pick up the carrot"
SUBTASK = "reach the carrot"
PLAN = "move down and slightly forward"
TARGET = "move forward 4.2 cm, move left 1.0 cm, close gripper; move up 5.0 cm"


def image(colour=(200, 120, 30), size=(64, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


@pytest.fixture(scope="session")
def tiny():
    from harness.models import load_model

    return load_model("tiny")


@pytest.fixture(scope="session")
def trained_tiny(tiny):
    """A copy of the tiny model trained (all weights, Adam) until greedy decoding writes TARGET for the action
    prompt: a model that already follows the grammar."""
    import torch

    from harness.models.loaded import LoadedModel

    loaded = LoadedModel(spec=copy.deepcopy(tiny.spec), model=copy.deepcopy(tiny.model), processor=tiny.processor,
                         tokenizer=tiny.tokenizer, device=tiny.device, base_dir=tiny.base_dir)
    prompt = T.action_prompt(INSTRUCTION, SUBTASK, PLAN)
    inputs = loaded.build_inputs(prompt, [image()], TARGET)
    torch.manual_seed(0)
    opt = torch.optim.Adam(loaded.model.parameters(), lr=3e-3)
    loaded.model.train()
    for step in range(400):
        loss = loaded.model(**inputs).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 19 and loaded.generate_prompt(prompt, [image()], max_new_tokens=40) == TARGET:
            break
    loaded.model.eval()
    assert loaded.generate_prompt(prompt, [image()], max_new_tokens=40) == TARGET, "the tiny model did not learn"
    return loaded


# the motion plans `harness.actions.plan.motion_plan` writes (what the plan grammar must admit, and nothing else)
_WORD = r"(slightly )?(forward|backward|left|right|up|down)"
_EVENT = r"(open|close) gripper"
PLAN_RE = re.compile(rf"stay|{_EVENT}|move {_WORD}(( and {_WORD})|(, {_WORD} and {_WORD}))?(, then {_EVENT})?")
