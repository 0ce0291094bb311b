"""Seeded trial scenes for the simulator's own runs (`vlm2vla sim ...`, tests, the demo).

The robot trial runner draws scenes from the task's schedule and hands them to `SimBackend.reset`; this module
draws the same kind of `SceneSetup` - the task's objects plus `variation.distractors_per_trial` distractors from
the pool, at positions in the reachable tabletop area, far enough apart that the open gripper fits between them -
for runs that do not go through the trial runner. Deterministic in (task.schedule_seed, seed, trial index).
"""

from __future__ import annotations

import math

import numpy as np

from harness.robot.backend import SceneSetup
from harness.sim.objects import get_object

X_RANGE = (0.22, 0.40)
Y_RANGE = (-0.15, 0.15)
GAP_M = 0.03  # free space kept between object footprints (a finger and some margin)


def draw_scene(task, trial_index: int, seed: int = 0, max_tries: int = 2000) -> SceneSetup:
    """One trial's scene: instruction, target, destination, distractors and (x, y) positions."""
    rng = np.random.default_rng([task.schedule_seed, seed, trial_index])
    instruction = task.instructions[trial_index % len(task.instructions)]
    pool = list(task.distractors)
    k = task.variation.distractors_per_trial
    distractors = [pool[i] for i in sorted(rng.choice(len(pool), size=k, replace=False))] if k else []
    names = list(dict.fromkeys([task.target, *([task.destination] if task.destination else []), *task.objects,
                                *distractors]))
    # Largest objects first: they are the hardest to fit.
    order = sorted(names, key=lambda n: -get_object(n).footprint)
    for _ in range(max_tries):
        placed: dict[str, tuple[float, float]] = {}
        for name in order:
            r = get_object(name).footprint
            for _ in range(50):
                x, y = rng.uniform(*X_RANGE), rng.uniform(*Y_RANGE)
                if all(math.hypot(x - px, y - py) >= r + get_object(o).footprint + GAP_M
                       for o, (px, py) in placed.items()):
                    placed[name] = (round(float(x), 4), round(float(y), 4))
                    break
            else:
                break
        if len(placed) == len(names):
            return SceneSetup(task=task.name, trial_index=trial_index, instruction=instruction.text,
                              language=instruction.language, target=task.target, destination=task.destination,
                              positions={n: placed[n] for n in names}, distractors=distractors)
    raise ValueError(f"task {task.name!r}: could not place {', '.join(names)} apart within x {X_RANGE}, "
                     f"y {Y_RANGE}; use fewer distractors (variation.distractors_per_trial)")
