"""Our models as a VLMEvalKit model: a `vlmeval.vlm.base.BaseModel` that hands interleaved messages to
`generate_batch` of a loaded harness model.

VLMEvalKit calls `generate(message, dataset)` one sample at a time; `generate_many` is the batched entry our
prediction loop uses. Both go through the same conversion, so batched and one-at-a-time predictions are the same
requests. Decoding is greedy (temperature 0), as VLMEvalKit's own model wrappers do for benchmarks.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Protocol

from PIL import Image

from harness.vqa import kit

kit.load()
from vlmeval.config import supported_VLM  # noqa: E402
from vlmeval.vlm.base import BaseModel  # noqa: E402


class Generator(Protocol):
    """What the adapter needs from a loaded model (the registry's `LoadedModel` has it)."""

    def generate_batch(self, contents: Sequence[Sequence[Image.Image | str]], *, max_new_tokens: int = 64,
                       temperature: float = 0.0, top_p: float = 1.0, seed: int | None = None) -> list[str]: ...


Message = list[dict[str, Any]]  # VLMEvalKit message: [{'type': 'image'|'text', 'value': path|text}, ...]


def to_content(message: Message) -> list[Image.Image | str]:
    """A VLMEvalKit message as one user turn: images opened (RGB) and text, in the message's order."""
    content: list[Image.Image | str] = []
    for item in message:
        if item["type"] == "image":
            with Image.open(item["value"]) as img:
                content.append(img.convert("RGB"))
        elif item["type"] == "text":
            content.append(str(item["value"]))
        else:
            raise ValueError(f"message item of type {item['type']!r} is not supported (image and text only)")
    return content


class HarnessVLM(BaseModel):
    """A harness model behind VLMEvalKit's model interface (interleaved images and text)."""

    INTERLEAVE = True
    allowed_types = ["text", "image"]

    def __init__(self, generator: Generator, *, max_new_tokens: int = 64, name: str = "harness"):
        super().__init__()
        self.generator, self.max_new_tokens, self.name = generator, max_new_tokens, name

    def _prepared(self, message: Any) -> Message:
        kind = self.check_content(message)
        if kind not in ("str", "dict", "liststr", "listdict"):
            raise ValueError(f"invalid VLMEvalKit message: {message!r}")
        for item in message if kind == "listdict" else []:
            if item.get("type") not in self.allowed_types:
                raise ValueError(f"message item of type {item.get('type')!r} is not supported by {self.name}")
        try:
            prepared = self.preproc_content(message)
        except AssertionError as e:  # VLMEvalKit's own checks (a path that is not a file of its type, ...)
            raise ValueError(f"invalid VLMEvalKit message: {message!r}") from e
        for item in prepared:
            if item["type"] not in self.allowed_types:
                raise ValueError(f"message item of type {item['type']!r} is not supported by {self.name}")
        return prepared

    def generate_many(self, messages: Sequence[Any], dataset: str | None = None) -> list[str]:
        """Answers for several messages in one `generate_batch` call (same order)."""
        contents = [to_content(self._prepared(m)) for m in messages]
        outputs = self.generator.generate_batch(contents, max_new_tokens=self.max_new_tokens, temperature=0.0)
        if len(outputs) != len(contents):
            raise RuntimeError(f"{self.name}: generate_batch returned {len(outputs)} answers for {len(contents)} "
                               "requests")
        return [str(o) for o in outputs]

    def generate_inner(self, message: Message, dataset: str | None = None) -> str:
        return self.generate_many([message], dataset)[0]


def register(name: str, generator: Generator, *, max_new_tokens: int = 64) -> HarnessVLM:
    """Register `name` in VLMEvalKit's model table (in-process) and return an instance.

    A name that VLMEvalKit already uses for one of its own models is refused rather than shadowed.
    """
    existing = supported_VLM.get(name)
    if existing is not None and getattr(existing, "func", None) is not HarnessVLM:
        raise ValueError(f"model name {name!r} is one of VLMEvalKit's own models; rename the harness model spec")
    supported_VLM[name] = functools.partial(HarnessVLM, generator, max_new_tokens=max_new_tokens, name=name)
    return supported_VLM[name]()
