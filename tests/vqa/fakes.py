"""Fake generators with the registry's `generate_batch` interface (test-only; never imported by the library)."""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Callable, Sequence

from PIL import Image

Content = Sequence[Image.Image | str]


def content_key(content: Content) -> tuple[str, ...]:
    """Identifies one request: its text parts and the pixels of its images, in order."""
    parts = []
    for item in content:
        if isinstance(item, Image.Image):
            parts.append("img:" + hashlib.md5(item.tobytes()).hexdigest())
        else:
            parts.append(item)
    return tuple(parts)


class FakeGenerator:
    """Answers each request with `answer(content)`; records the size of every `generate_batch` call."""

    def __init__(self, answer: Callable[[Content], str]):
        self.answer = answer
        self.batch_sizes: list[int] = []
        self.kwargs: list[dict] = []

    def generate_batch(self, contents: Sequence[Content], *, max_new_tokens: int = 64, temperature: float = 0.0,
                       top_p: float = 1.0, seed: int | None = None) -> list[str]:
        self.batch_sizes.append(len(contents))
        self.kwargs.append(dict(max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, seed=seed))
        return [self.answer(c) for c in contents]

    def generate(self, content: Content, **kwargs) -> str:
        return self.generate_batch([content], **kwargs)[0]


def constant(text: str) -> FakeGenerator:
    return FakeGenerator(lambda content: text)


def echo_hash() -> FakeGenerator:
    """A different, deterministic answer per request (to see that answers land on the right rows)."""
    return FakeGenerator(lambda content: "ans-" + hashlib.md5(repr(content_key(content)).encode()).hexdigest()[:10])


def correct_answer(row) -> str:
    """What a perfect model writes for a VLMEvalKit row: the letter, Yes/No, or the first listed answer."""
    answer = str(row["answer"])
    if answer.startswith("["):
        return str(ast.literal_eval(answer)[0])
    return answer


def oracle(datasets) -> FakeGenerator:
    """A perfect model for these VLMEvalKit datasets: it looks each request up among their prompts."""
    from harness.vqa.adapter import to_content

    table: dict[tuple[str, ...], str] = {}
    for ds in datasets:
        for i in range(len(ds.data)):
            row = ds.data.iloc[i]
            table[content_key(to_content(ds.build_prompt(row)))] = correct_answer(row)

    def answer(content: Content) -> str:
        return table.get(content_key(content), "I do not know")

    return FakeGenerator(answer)
