"""Is this the model that was trained? A fixed greedy probe compared with the reference saved beside the adapter.

OpenVLA's users report scores that changed silently with the transformers version (one report: newer versions
ignore the image and return the same action for every input). Training writes `check_reference.json` into the
adapter directory: the greedy answers of a fixed probe (images drawn deterministically here, prompts below) and the
environment it ran in. `vlm2vla check-model` (and `robot-trials`, before a session) runs the same probe and names
every answer that differs, with both environments, so a session never starts on a model that no longer behaves as
trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageDraw

from harness.records.atomic import atomic_write_text
from harness.records.environment import differing, fingerprint_of

REFERENCE_FILE = "check_reference.json"
MAX_NEW_TOKENS = 24
PROMPTS = ("What should the robot do to pick up the red block?",
           "Describe the image in one sentence.",
           "move the gripper toward the blue object")


class Generates(Protocol):
    def generate_batch(self, contents: Any, *, max_new_tokens: int = 64, temperature: float = 0.0) -> list[str]: ...


def probe_images(size: int = 64) -> list[Image.Image]:
    """Deterministic scenes (a coloured block on a table-like background), one per prompt."""
    out = []
    for i, (fg, bg) in enumerate((((200, 30, 30), (120, 90, 60)), ((30, 60, 200), (200, 200, 200)),
                                  ((30, 160, 60), (60, 60, 60)))):
        img = Image.new("RGB", (size, size), bg)
        x = 8 + 16 * i
        ImageDraw.Draw(img).rectangle((x, size // 2, x + 16, size // 2 + 16), fill=fg)
        out.append(img)
    return out


def probe_outputs(model: Generates) -> list[str]:
    """The model's greedy answers to the probe (one per prompt, each with its image)."""
    contents = [[img, prompt] for img, prompt in zip(probe_images(), PROMPTS, strict=True)]
    return model.generate_batch(contents, max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)


def write_reference(directory: Path, model: Generates) -> Path:
    """Record the probe's answers (and the environment) as the reference of the model saved in `directory`."""
    record = {"prompts": list(PROMPTS), "max_new_tokens": MAX_NEW_TOKENS, "outputs": probe_outputs(model),
              "environment": fingerprint_of(model)}
    return atomic_write_text(Path(directory) / REFERENCE_FILE, json.dumps(record, indent=2) + "\n")


@dataclass(frozen=True)
class CheckResult:
    reference: Path
    differences: list[str]  # one line per probe answer that differs; empty: the model behaves as trained

    @property
    def ok(self) -> bool:
        return not self.differences


class NoReferenceError(FileNotFoundError):
    """The model has no recorded reference (trained before references were written, or no adapter)."""


def check_model(model: Generates, directory: Path) -> CheckResult:
    """Run the probe on `model` and compare with `directory`/check_reference.json."""
    path = Path(directory) / REFERENCE_FILE
    if not path.is_file():
        raise NoReferenceError(f"{path}: no check reference (written when the adapter is saved by `vlm2vla "
                               "train`); retrain, or pass --skip-model-check")
    ref = json.loads(path.read_text())
    if list(ref.get("prompts", [])) != list(PROMPTS) or ref.get("max_new_tokens") != MAX_NEW_TOKENS:
        raise ValueError(f"{path}: recorded for another probe; rewrite it with this version of the harness")
    now = probe_outputs(model)
    diffs = [f"probe {i} ({PROMPTS[i]!r}): expected {want!r}, got {got!r}"
             for i, (want, got) in enumerate(zip(ref["outputs"], now, strict=True)) if want != got]
    if diffs:
        before, after = ref.get("environment", {}), fingerprint_of(model)
        keys = differing([before, after])
        diffs.append("environment then vs now: " + (", ".join(f"{k} {before.get(k)} -> {after.get(k)}"
                                                              for k in keys) or "identical"))
    return CheckResult(path, diffs)
