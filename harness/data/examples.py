"""D_lan rows of one annotated episode: the hierarchy's three stages plus the paper's auxiliary questions.

Per episode with steps i = 0..N-1 (ō_i is the image where step i starts, ō_N the last image):
- subtasks (one):   ō_0, L                 -> "1. reach the carrot\n2. grasp the carrot\n..."
- plan (per step):  ō_i, L, l_i            -> m_i                      ("move down and slightly forward")
- action (per step): ō_i, L, l_i, m_i      -> ā_i verbalized; `action_digits` the same chunk as least-likely digits
- completion (two per step): (ō_i, ō_{i+1}) with l_i -> yes; the same pair with l_{i+1} -> no (for the last step:
  (ō_{i-1}, ō_i) with l_i -> no; a one-step episode asks about an unchanged scene (ō_0, ō_0) -> no)
- direction (per step whose sideways motion is clear): (ō_i, ō_{i+1}) -> left | right | none
Every prompt is built by `harness.data.templates`, the same functions training and inference use.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from harness.actions import VerbalizedCodec, chunk_to_digits, chunk_to_lists, displacement
from harness.data import templates
from harness.data.bridge import Episode
from harness.data.decomposition import Decomposition
from harness.data.dlan import DlanExample
from harness.specs.actions import ActionReprSpec
from harness.specs.data import AuxSpec


@dataclass(frozen=True)
class Writers:
    """The two ways a chunk is written (same resolution), from their action specs."""

    verbalized: VerbalizedCodec
    digits: int
    digits_resolution_cm: float

    @classmethod
    def from_specs(cls, verbalized: ActionReprSpec, least_likely: ActionReprSpec) -> Writers:
        return cls(VerbalizedCodec(verbalized.resolution_cm), least_likely.least_likely.digits,
                   least_likely.resolution_cm)

    def digit_string(self, chunk) -> str:
        return "".join(str(d) for d in chunk_to_digits(chunk, self.digits, self.digits_resolution_cm))


def chunk_json(chunk) -> str:
    return json.dumps([[None if v is None else round(float(v), 6) for v in row] for row in chunk_to_lists(chunk)])


def direction_label(dy_m: float, aux: AuxSpec) -> str | None:
    """left / right / none from the sideways (y) displacement; None where it is ambiguous (not asked)."""
    cm = 100 * dy_m
    if abs(cm) >= aux.direction_min_cm:
        return "left" if cm > 0 else "right"
    if abs(cm) < aux.direction_none_cm:
        return "none"
    return None


def episode_examples(episode: Episode, decomposition: Decomposition, split: str, image_of: Sequence[str],
                     writers: Writers, aux: AuxSpec) -> list[DlanExample]:
    """All rows of one episode. `image_of[t]` is the D_lan-relative path of the image at state t (or '')."""
    steps = decomposition.steps
    ep, instr, ann = episode.episode_id, episode.instruction, decomposition.annotator
    start = [image_of[s.start] for s in steps]
    end = [image_of[s.end] for s in steps]

    def row(stage: str, index: int, step_index: int, subtask: str, plan: str, prompt: templates.Prompt,
            target: str, images: list[str], digits: str = "", chunk: str = "") -> DlanExample:
        assert len(images) == prompt.images, (stage, images)
        return DlanExample(f"{ep}/{stage}/{index}", ep, split, stage, step_index, instr, subtask, plan,
                           prompt.text, target, digits, chunk, images, ann)

    rows = [row("subtasks", 0, -1, "", "", templates.subtasks_prompt(instr),
                templates.subtasks_target(decomposition.subtasks), [start[0]])]
    for i, s in enumerate(steps):
        rows.append(row("plan", i, i, s.subtask, s.plan, templates.plan_prompt(instr, s.subtask), s.plan, [start[i]]))
    for i, s in enumerate(steps):
        rows.append(row("action", i, i, s.subtask, s.plan, templates.action_prompt(instr, s.subtask, s.plan),
                        writers.verbalized.encode(s.chunk), [start[i]], writers.digit_string(s.chunk),
                        chunk_json(s.chunk)))
    if aux.completion:
        k = 0
        for i, s in enumerate(steps):
            rows.append(row("completion", k, i, s.subtask, "", templates.completion_prompt(s.subtask),
                            templates.yes_no_target(True), [start[i], end[i]]))
            k += 1
            if i + 1 < len(steps):  # finishing step i does not finish step i+1
                j, images = i + 1, [start[i], end[i]]
            elif i > 0:  # the step before step i does not finish step i
                j, images = i, [start[i - 1], end[i - 1]]
            else:  # nothing happened yet
                j, images = i, [start[i], start[i]]
            rows.append(row("completion", k, j, steps[j].subtask, "", templates.completion_prompt(steps[j].subtask),
                            templates.yes_no_target(False), images))
            k += 1
    if aux.direction:
        k = 0
        for i, s in enumerate(steps):
            label = direction_label(displacement(s.chunk)[1], aux)
            if label is not None:
                rows.append(row("direction", k, i, "", "", templates.direction_prompt(), label, [start[i], end[i]]))
                k += 1
    return rows


def needed_images(decomposition: Decomposition) -> list[int]:
    """State indices whose images the rows reference: every step's start and the last step's end."""
    return sorted({s.start for s in decomposition.steps} | {decomposition.steps[-1].end})
