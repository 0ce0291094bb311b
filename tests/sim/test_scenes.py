"""The simulator's own seeded scenes: reproducible, inside the reachable area, objects apart."""

from __future__ import annotations

import math

import pytest

from harness.sim.objects import get_object
from harness.sim.scenes import GAP_M, X_RANGE, Y_RANGE, draw_scene
from harness.specs import list_specs, load_task


@pytest.mark.parametrize("task_name", [r.name for r in list_specs("tasks")])
def test_scenes_follow_the_task(task_name):
    task = load_task(task_name)
    for i in range(10):
        s = draw_scene(task, i)
        assert s == draw_scene(task, i)  # reproducible
        assert s.target == task.target and s.destination == task.destination
        assert len(s.distractors) == task.variation.distractors_per_trial
        assert set(s.distractors) <= set(task.distractors)
        assert s.instruction == task.instructions[i % len(task.instructions)].text
        names = list(s.positions)
        assert set(names) == {task.target, *task.objects, *s.distractors} | ({task.destination} - {None})
        for n, (x, y) in s.positions.items():
            assert X_RANGE[0] <= x <= X_RANGE[1] and Y_RANGE[0] <= y <= Y_RANGE[1]
            for m in names:
                if m != n:
                    gap = math.dist((x, y), s.positions[m]) - get_object(n).footprint - get_object(m).footprint
                    assert gap >= GAP_M - 1e-3
    assert draw_scene(task, 0).positions != draw_scene(task, 1).positions
    assert draw_scene(task, 0, seed=1).positions != draw_scene(task, 0).positions
