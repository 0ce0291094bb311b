"""A small synthetic D_lan written with the real templates, codecs and shard writer (tests and local trials only;
the real one comes from `vlm2vla data build`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness.actions import ActionStep, VerbalizedCodec, chunk_to_digits, chunk_to_lists, motion_plan
from harness.data import templates as T
from harness.data.dlan import DlanExample, write_shard

OBJECTS = [("carrot", (230, 120, 30)), ("spoon", (160, 160, 170)), ("cup", (200, 30, 40)), ("banana", (240, 220, 60))]


def _image(path: Path, colour: tuple[int, int, int], x: int, y: int) -> None:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (96, 72), (90, 70, 50))
    ImageDraw.Draw(im).rectangle([x, y, x + 18, y + 14], fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, quality=90)


def write_dlan(root: Path, episodes: int = 4, seed: int = 0, heldout: int = 0) -> Path:
    """`episodes` episodes x (subtasks + per sub-task plan and action + completion) examples; the last `heldout`
    episodes form the heldout split, the others the train split."""
    rng = random.Random(seed)
    codec = VerbalizedCodec(0.1)
    rows: list[DlanExample] = []
    for e in range(episodes):
        name, colour = OBJECTS[e % len(OBJECTS)]
        instruction = f"pick up the {name}"
        subtasks = [f"reach the {name}", f"grasp the {name}", f"lift the {name}"]
        ep = f"ep{e:03d}"
        split = "heldout" if e >= episodes - heldout else "train"
        imgs = []
        for i in range(len(subtasks) + 1):
            rel = f"images/{ep}/{i}.jpg"
            _image(root / rel, colour, 10 + 15 * i + rng.randrange(5), 40 - 8 * i)
            imgs.append(rel)

        def ex(stage: str, idx: int, sub: str, plan: str, prompt: T.Prompt, target: str, images: list[str],
               chunk=None, ep: str = ep, instruction: str = instruction, split: str = split) -> DlanExample:
            return DlanExample(
                example_id=f"{ep}/{stage}/{idx}", episode_id=ep, split=split, stage=stage, step_index=idx,
                instruction=instruction, subtask=sub, plan=plan, prompt=prompt.text, target=target,
                action_digits="".join(map(str, chunk_to_digits(chunk))) if chunk else "",
                chunk_json=json.dumps(chunk_to_lists(chunk)) if chunk else "", images=images, annotator="rules")

        rows.append(ex("subtasks", -1, "", "", T.subtasks_prompt(instruction), T.subtasks_target(subtasks),
                       imgs[:1]))
        for i, sub in enumerate(subtasks):
            chunk = [ActionStep(round(rng.uniform(-0.04, 0.04), 3), round(rng.uniform(-0.03, 0.03), 3),
                                -0.02 if i < 2 else 0.03, gripper=0.0 if i >= 1 else 1.0)]
            plan = motion_plan(chunk)
            rows.append(ex("plan", i, sub, "", T.plan_prompt(instruction, sub), plan, imgs[i:i + 1]))
            rows.append(ex("action", i, sub, plan, T.action_prompt(instruction, sub, plan), codec.encode(chunk),
                           imgs[i:i + 1], chunk))
            rows.append(ex("completion", i, sub, "", T.completion_prompt(sub), T.yes_no_target(True),
                           imgs[i:i + 2]))
    for split in ("train", "heldout"):
        if any(r.split == split for r in rows):
            write_shard([r for r in rows if r.split == split], root / "data" / f"{split}-00000.parquet")
    return root
