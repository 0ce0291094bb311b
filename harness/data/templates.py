"""Prompt and target templates of every stage, shared by data building, training and inference.

The paper factorises p(ā_i, m_i, l_i | ō_i, L) = p(l_i | ō_0, L) · p(m_i | l_i, ō_i) · p(ā_i | m_i, l_i, ō_i):
all sub-tasks are generated once from the first image; then, per sub-task, a motion plan and an action chunk from
the current image. Training examples and policy prompts are built by these functions only, so the text the model
is trained on and the text it is prompted with cannot drift apart.

A `Prompt` is model-agnostic: `images` observation slots followed by text. `to_messages` renders the usual
chat-message structure that HF processors' `apply_chat_template` consume.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

STAGES = ("subtasks", "plan", "action", "completion", "direction")


@dataclass(frozen=True)
class Prompt:
    stage: str
    text: str
    images: int = 1  # how many observation images precede the text (in order)


def subtasks_prompt(instruction: str) -> Prompt:
    return Prompt("subtasks", f"Instruction: {instruction}\nList the sub-tasks that complete the instruction, "
                              "one per line.")


def plan_prompt(instruction: str, subtask: str) -> Prompt:
    return Prompt("plan", f"Instruction: {instruction}\nCurrent sub-task: {subtask}\n"
                          "Which way should the gripper move?")


def action_prompt(instruction: str, subtask: str, plan: str) -> Prompt:
    return Prompt("action", f"Instruction: {instruction}\nCurrent sub-task: {subtask}\nMotion plan: {plan}\n"
                            "Give the end-effector actions.")


def completion_prompt(subtask: str) -> Prompt:
    """Two images (before, after): has the sub-task been completed? Answers 'yes' or 'no'."""
    return Prompt("completion", f"The first image is before and the second after the robot acted.\n"
                                f"Is the sub-task '{subtask}' complete? Answer yes or no.", images=2)


def direction_prompt() -> Prompt:
    """Two images (before, after): which way did the arm move? Answers 'left', 'right' or 'none'."""
    return Prompt("direction", "The first image is before and the second after the robot moved.\n"
                               "Did the robot arm move left, right, or not sideways? Answer left, right or none.",
                  images=2)


def subtasks_target(subtasks: Sequence[str]) -> str:
    if not subtasks:
        raise ValueError("an episode needs at least one sub-task")
    return "\n".join(f"{i}. {s}" for i, s in enumerate(subtasks, start=1))


_NUMBERED = re.compile(r"^\s*(?:\d+\s*[.)]|[-*\u2022])\s*")


def parse_subtasks(text: str) -> list[str]:
    """Inverse of `subtasks_target`, tolerant of bullets and blank lines; empty list if nothing usable."""
    items = [_NUMBERED.sub("", line).strip().rstrip(".") for line in text.splitlines()]
    return [s for s in items if s]


def yes_no_target(complete: bool) -> str:
    return "yes" if complete else "no"


def parse_yes_no(text: str) -> bool | None:
    word = text.strip().lower().split()[:1]
    if not word:
        return None
    w = word[0].strip(".,!")
    return True if w == "yes" else False if w == "no" else None


def to_messages(prompt: Prompt, target: str | None = None) -> list[dict[str, Any]]:
    """Chat messages for `processor.apply_chat_template`; the images are passed to the processor separately."""
    content: list[dict[str, Any]] = [{"type": "image"} for _ in range(prompt.images)]
    content.append({"type": "text", "text": prompt.text})
    messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
    if target is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": target}]})
    return messages
