"""The seeded trial schedule of a task, and the blind ordering of models within a session.

Schedule: trial k of a task gets its scene (which distractors, where every object stands) and its instruction
from a random stream seeded by (schedule seed, k) alone, so trial k is the same scene on the real table (the
operator places the objects as described), in the simulator, for every model, and whatever the number of trials.
Instructions cycle through the task's list, so a multilingual task of 90 trials gives each of 3 languages 30.

Positions are (x, y) in metres in the robot base frame (table surface z = 0): each object takes a slot of a nominal
grid over the task's table area (the slot assignment drawn per trial), is moved by up to `position_jitter_cm` in a
random direction and kept inside the area; a draw that puts two objects closer than `min_spacing_cm` is redrawn.

Blind ordering: every model runs every trial; the order within a trial is drawn from the session seed, balanced so
that each model runs first (second, ...) equally often over every block of len(models) trials. The operator sees
only labels ("policy A"); the label of each model is drawn from the seed too and revealed when the session ends.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

import numpy as np

from harness.robot.backend import SceneSetup
from harness.specs.task import TaskSpec

MAX_DRAWS = 200  # redraws of the jitter before falling back to the un-jittered slots (always spaced)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in key]))


def nominal_slots(task: TaskSpec) -> list[tuple[float, float]]:
    """Grid points over the table area, centre first, spaced at least `min_spacing_cm` apart."""
    v = task.variation
    (x0, y0), (x1, y1) = v.area_min, v.area_max
    spacing = max(v.min_spacing_cm / 100, 1e-3)
    nx = max(1, int(math.floor((x1 - x0) / spacing)) + 1)
    ny = max(1, int(math.floor((y1 - y0) / spacing)) + 1)
    xs = [x0 + (x1 - x0) * i / (nx - 1) for i in range(nx)] if nx > 1 else [(x0 + x1) / 2]
    ys = [y0 + (y1 - y0) * j / (ny - 1) for j in range(ny)] if ny > 1 else [(y0 + y1) / 2]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    slots = [(x, y) for x in xs for y in ys]
    return sorted(slots, key=lambda p: (round(math.hypot(p[0] - cx, p[1] - cy), 6), p))


def scene_for(task: TaskSpec, trial_index: int, schedule_seed: int | None = None) -> SceneSetup:
    """The scene and instruction of trial `trial_index` (0-based) of `task`."""
    seed = task.schedule_seed if schedule_seed is None else schedule_seed
    rng = _rng(seed, trial_index)
    v = task.variation
    instruction = task.instructions[trial_index % len(task.instructions)]
    picked = rng.choice(len(task.distractors), size=v.distractors_per_trial, replace=False) if v.distractors_per_trial else []
    distractors = [task.distractors[int(i)] for i in sorted(picked)]
    names = list(dict.fromkeys([task.target, *([task.destination] if task.destination else []), *task.objects]))
    names += [d for d in distractors if d not in names]
    slots = nominal_slots(task)
    if len(names) > len(slots):
        raise ValueError(f"task {task.name!r}: {len(names)} objects do not fit the table area "
                         f"{v.area_min}..{v.area_max} at {v.min_spacing_cm} cm spacing ({len(slots)} places); "
                         "enlarge variation.area_* or lower variation.min_spacing_cm")
    order = rng.permutation(len(slots))[: len(names)]
    nominal = [slots[int(i)] for i in order]
    positions = _jitter(nominal, task, rng)
    return SceneSetup(
        task=task.name, trial_index=trial_index, instruction=instruction.text, language=instruction.language,
        target=task.target, destination=task.destination,
        positions={n: (round(x, 4), round(y, 4)) for n, (x, y) in zip(names, positions, strict=True)},
        distractors=distractors,
    )


def _jitter(nominal: list[tuple[float, float]], task: TaskSpec, rng: np.random.Generator) -> list[tuple[float, float]]:
    v = task.variation
    r_max, spacing = v.position_jitter_cm / 100, v.min_spacing_cm / 100
    (x0, y0), (x1, y1) = v.area_min, v.area_max
    for _ in range(MAX_DRAWS):
        out = []
        for x, y in nominal:
            r, a = r_max * math.sqrt(rng.random()), 2 * math.pi * rng.random()
            out.append((min(x1, max(x0, x + r * math.cos(a))), min(y1, max(y0, y + r * math.sin(a)))))
        if all(math.dist(p, q) >= spacing for i, p in enumerate(out) for q in out[i + 1:]):
            return out
    return list(nominal)


def trial_schedule(task: TaskSpec, trials: int | None = None, schedule_seed: int | None = None) -> list[SceneSetup]:
    """Scenes of trials 0..trials-1 (default: the task's number of trials)."""
    n = task.trials if trials is None else trials
    if n <= 0:
        raise ValueError(f"--trials must be > 0, got {n}")
    return [scene_for(task, k, schedule_seed) for k in range(n)]


@dataclass(frozen=True)
class BlindPlan:
    """Which model runs when, under which label."""

    labels: dict[str, str]  # model -> "policy A"
    order: list[list[str]]  # order[k] = the models of trial k in the order they run

    def reveal(self) -> str:
        return ", ".join(f"{label} = {model}" for model, label in sorted(self.labels.items(), key=lambda kv: kv[1]))


def blind_label(i: int) -> str:
    letters = string.ascii_uppercase
    return "policy " + (letters[i] if i < 26 else letters[i // 26 - 1] + letters[i % 26])


def blind_plan(models: list[str], trials: int, session_seed: int) -> BlindPlan:
    """Balanced, reproducible per-trial order of `models` and their blind labels (see the module doc)."""
    if len(set(models)) != len(models) or not models:
        raise ValueError(f"models must be distinct and non-empty, got {models}")
    rng = _rng(session_seed, 0xB11D)
    n = len(models)
    labels = {m: blind_label(i) for i, m in enumerate(models[j] for j in rng.permutation(n))}
    order: list[list[str]] = []
    while len(order) < trials:
        base = [models[j] for j in rng.permutation(n)]
        block = [base[r:] + base[:r] for r in range(n)]  # a Latin square: each model once in each position
        order += [block[j] for j in rng.permutation(n)]
    return BlindPlan(labels, order[:trials])
