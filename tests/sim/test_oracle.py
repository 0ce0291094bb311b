"""The scripted oracle: it speaks the action language, and it solves every simulated task."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from harness.actions import VerbalizedCodec
from harness.policy.base import Decision
from harness.sim.oracle import MAX_STEP_M, OraclePolicy
from harness.sim.rollout import oracle_trials, run_trial, split_step
from harness.sim.scenes import draw_scene
from harness.specs import load_task

TASKS = ["pickup", "pick-and-place", "pick-place-lift", "pickup-ash", "pickup-multilingual"]


def test_every_cycle_goes_through_the_text(backend_for):
    task = load_task("pick-place-lift")
    b = backend_for(task.name)
    obs = b.reset(draw_scene(task, 0))
    policy = OraclePolicy(b)
    subtasks = policy.start("put the carrot on the plate, then pick it up again", obs)
    assert subtasks[0] == "reach the carrot" and subtasks[-1] == "lift the carrot again" and len(subtasks) == 8
    codec = VerbalizedCodec()
    while not policy.done:
        out = policy.act(obs)
        assert out.subtask == policy.current_subtask and out.parse_error is None
        assert out.chunk == codec.decode(out.action_text)  # what moves is what the text says
        assert out.texts["action"] == out.action_text and out.plan
        for step in out.chunk:
            assert math.dist((0, 0, 0), step.translation) <= 0.05
            for command in split_step(step, 0.05):
                b.move(command)
        obs = b.observe()
        policy.advance(Decision("proceed"))
    assert b.success() is True


def test_retry_replans_the_same_subtask(backend_for):
    task = load_task("pickup")
    b = backend_for(task.name)
    obs = b.reset(draw_scene(task, 1))
    policy = OraclePolicy(b)
    policy.start("pick up the carrot", obs)
    first = policy.act(obs)
    policy.advance(Decision("retry"))
    assert policy.current_subtask == first.subtask == "reach the carrot"
    assert policy.act(obs).action_text == first.action_text  # nothing moved: the same plan
    assert "open gripper" in first.action_text


def test_start_needs_a_scene(backend_for):
    b = backend_for("pickup")
    with pytest.raises(RuntimeError, match="reset"):
        OraclePolicy(b).start("pick up the carrot", None)


@pytest.mark.parametrize("task_name", TASKS)
def test_oracle_solves_seeded_trials(backend_for, task_name):
    task = load_task(task_name)
    b = backend_for(task_name)
    for i in range(2):
        out = run_trial(b, OraclePolicy(b), draw_scene(task, i), cycle_budget=task.cycle_budget)
        assert out.success, f"{task_name} trial {i}: {out.actions}"
        assert out.cycles == len(out.subtasks) <= task.cycle_budget and out.ik_failures == 0


@pytest.mark.slow
@pytest.mark.parametrize("task_name", TASKS)
def test_oracle_success_rate_at_least_90_percent(backend_for, task_name):
    task = load_task(task_name)
    b = backend_for(task_name)
    wins = [run_trial(b, OraclePolicy(b), draw_scene(task, i, seed=1), cycle_budget=task.cycle_budget).success
            for i in range(20)]
    assert np.mean(wins) >= 0.9, f"{task_name}: {sum(wins)}/20"


def test_split_step_keeps_the_displacement_and_the_gripper():
    from harness.actions import ActionStep

    commands = split_step(ActionStep(0.09, -0.03, 0.0, 0.0), 0.05)
    assert len(commands) == 2 and commands[0].gripper == 0.0 and commands[1].gripper is None
    assert sum(c.dx for c in commands) == pytest.approx(0.09) and sum(c.dy for c in commands) == pytest.approx(-0.03)
    assert len(split_step(ActionStep(0.0, 0.0, 0.05), 0.05)) == 1
    assert len(split_step(ActionStep(gripper=1.0), 0.05)) == 1
    assert MAX_STEP_M < 0.05


def test_trials_save_frames_and_resume(robot, tmp_path):
    task = load_task("pickup")
    out = tmp_path / "pickup"
    first = oracle_trials(robot, task, 2, out_dir=out)
    assert [o.trial_index for o in first] == [0, 1] and all(o.success for o in first)
    lines = (out / "trials.jsonl").read_text().splitlines()
    assert len(lines) == 2
    from PIL import Image

    gif = Image.open(json.loads(lines[0])["frames_path"])
    assert gif.n_frames == first[0].steps + 1  # the first observation, then one frame per executed step
    # A crash left a cut line: that trial runs again, the finished one is not repeated.
    (out / "trials.jsonl").write_text(lines[0] + "\n" + lines[1][:20] + "\n")
    again = oracle_trials(robot, task, 3, out_dir=out)
    assert [o.trial_index for o in again] == [0, 1, 2]
    rows = [json.loads(x) for x in (out / "trials.jsonl").read_text().splitlines()[2:]]
    assert [r["trial_index"] for r in rows] == [1, 2]
