"""The partial-success rubric of a task spec: what a rubric may say, and every shipped task has one."""

from __future__ import annotations

import dataclasses

import pytest

from harness.specs import load_task
from harness.specs.base import SpecValueError
from harness.specs.task import ProgressLevel

TASKS = ["pickup", "pickup-ash", "pickup-multilingual", "pick-and-place", "pick-place-lift"]


@pytest.mark.parametrize("name", TASKS)
def test_every_task_has_a_rubric_ending_at_100(name):
    levels = load_task(name).progress
    assert len(levels) >= 3 and levels[-1].value == 100
    assert [lvl.value for lvl in levels] == sorted({lvl.value for lvl in levels})


@pytest.mark.parametrize("levels, key, fix", [
    ([("grasped", 50, "g"), ("reached", 25, "r"), ("lifted", 100, "l")], "progress", "strictly increasing"),
    ([("reached", 25, "r"), ("grasped", 50, "g")], "progress[1].value", "the last level is the task's success"),
    ([("wobbled", 25, "w"), ("lifted", 100, "l")], "progress[0].name", "'reached'"),
    ([("reached", 25, "r"), ("lifted", 100, "r")], "progress[1].key", "distinct"),
    ([("reached", 25, "0"), ("lifted", 100, "l")], "progress[0].key", "the answer for no progress"),
    ([("reached", 25, "R"), ("lifted", 100, "l")], "progress[0].key", "lower-case"),
    ([("reached", 25, "re"), ("lifted", 100, "l")], "progress[0].key", "one lower-case character"),
])
def test_a_bad_rubric_names_the_key_and_the_fix(levels, key, fix):
    task = load_task("pickup")
    with pytest.raises(SpecValueError) as e:
        dataclasses.replace(task, progress=[ProgressLevel(n, v, k) for n, v, k in levels])
    assert key in str(e.value) and fix in str(e.value)
