"""The seeded trial schedule (scenes, instructions, languages) and the blind A/B ordering."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import Counter

import pytest

from harness.robot.schedule import blind_plan, nominal_slots, scene_for, trial_schedule
from harness.specs import list_specs, load_task

TASKS = [r.name for r in list_specs("tasks")]


@pytest.mark.parametrize("name", TASKS)
def test_every_task_schedule_is_valid(name):
    task = load_task(name)
    v = task.variation
    scenes = trial_schedule(task)
    assert len(scenes) == task.trials
    for k, s in enumerate(scenes):
        assert s.trial_index == k and s.task == name and s.target == task.target
        assert task.target in s.positions and all(o in s.positions for o in task.objects)
        assert len(s.distractors) == v.distractors_per_trial == len(set(s.distractors))
        assert set(s.distractors) <= set(task.distractors) and all(d in s.positions for d in s.distractors)
        pts = list(s.positions.values())
        for x, y in pts:
            assert v.area_min[0] - 1e-9 <= x <= v.area_max[0] + 1e-9 and v.area_min[1] - 1e-9 <= y <= v.area_max[1] + 1e-9
        for p, q in itertools.combinations(pts, 2):
            assert math.dist(p, q) >= v.min_spacing_cm / 100 - 1e-3  # positions are rounded to 0.1 mm
    # variations really vary: the target is not always in the same place, distractor sets differ
    assert len({s.positions[task.target] for s in scenes}) > task.trials // 2
    assert len({tuple(s.distractors) for s in scenes}) > 1


def test_schedule_is_reproducible_and_independent_of_trial_count():
    task = load_task("pickup")
    a, b = trial_schedule(task, 10), trial_schedule(task, 30)
    assert a == b[:10]
    assert scene_for(task, 7) == b[7]
    other = trial_schedule(task, 10, schedule_seed=task.schedule_seed + 1)
    assert [s.positions for s in other] != [s.positions for s in a]


def test_multilingual_cycles_languages_evenly():
    task = load_task("pickup-multilingual")
    scenes = trial_schedule(task)
    counts = Counter(s.language for s in scenes)
    assert counts == {"es": 30, "zh": 30, "hi": 30}
    texts = {i.language: i.text for i in task.instructions}
    assert all(s.instruction == texts[s.language] for s in scenes)


def test_jitter_respects_the_spec():
    task = load_task("pickup")
    slots = set(nominal_slots(task))
    jitter = task.variation.position_jitter_cm / 100
    for s in trial_schedule(task):
        for x, y in s.positions.values():
            assert min(math.dist((x, y), p) for p in slots) <= jitter + 1e-3
    still = dataclasses.replace(task, variation=dataclasses.replace(task.variation, position_jitter_cm=0.0))
    for s in trial_schedule(still, 5):
        assert all(min(math.dist(p, q) for q in slots) < 1e-4 for p in s.positions.values())


def test_too_many_objects_is_a_clear_error():
    task = load_task("pickup")
    tiny = dataclasses.replace(task, variation=dataclasses.replace(task.variation, area_min=[0.3, 0.0],
                                                                   area_max=[0.31, 0.01]))
    with pytest.raises(ValueError, match="do not fit the table area"):
        scene_for(tiny, 0)


@pytest.mark.parametrize("models", [["vlm2vla", "vlm2vla-at"], ["a", "b", "c"]])
def test_blind_order_is_balanced(models):
    trials = 30
    plan = blind_plan(models, trials, session_seed=7)
    assert len(plan.order) == trials
    assert all(sorted(o) == sorted(models) for o in plan.order)  # every model runs every trial once
    n = len(models)
    for pos in range(n):
        counts = Counter(o[pos] for o in plan.order)
        assert max(counts.values()) - min(counts.get(m, 0) for m in models) <= 1  # balanced positions
    full = trials - trials % n
    for pos in range(n):  # exact balance over complete blocks
        assert set(Counter(o[pos] for o in plan.order[:full]).values()) == {full // n}
    assert sorted(plan.labels.values()) == [f"policy {c}" for c in "ABC"[:n]]


def test_blind_order_is_reproducible_and_seeded():
    models = ["vlm2vla", "vlm2vla-at"]
    assert blind_plan(models, 30, 3) == blind_plan(models, 30, 3)
    plans = {(tuple(map(tuple, blind_plan(models, 30, s).order)), tuple(blind_plan(models, 30, s).labels.items()))
             for s in range(8)}
    assert len(plans) > 1
    assert any(blind_plan(models, 30, s).labels["vlm2vla"] == "policy B" for s in range(8))  # labels not by CLI order
    orders = blind_plan(models, 30, 3).order
    assert len({tuple(o) for o in orders}) == 2  # the order really changes between trials
    assert "policy A = " in blind_plan(models, 4, 1).reveal()


def test_blind_plan_rejects_duplicates():
    with pytest.raises(ValueError, match="distinct"):
        blind_plan(["a", "a"], 4, 0)
