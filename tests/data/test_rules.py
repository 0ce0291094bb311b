"""The rules annotator: contiguous steps whose chunks add up to the episode, plans that match, names that follow."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.actions import displacement, gripper_event
from harness.actions.plan import plan_is_consistent
from harness.data.bridge import Episode
from harness.data.decomposition import SegmentError, check_segments, chunk_displacement_error
from harness.data.rules import RulesAnnotator, TaskWords, parse_instruction
from harness.specs.loader import load_decomposition


@pytest.fixture(scope="module")
def annotator():
    return RulesAnnotator(load_decomposition("bridge"))


@pytest.mark.parametrize("text, words", [
    ("put the carrot in the pot", TaskWords("the carrot", "the pot", "in")),
    ("Place the eggplant on top of the plate.", TaskWords("the eggplant", "the plate", "on")),
    ("move the red block onto the towel", TaskWords("the red block", "the towel", "on")),
    ("put corn into pot", TaskWords("the corn", "the pot", "in")),
    ("move the spoon to the left side of the table", TaskWords("the spoon", "the left side of the table", "at")),
    ("pick up the green cup", TaskWords("the green cup")),
    ("pick the spoon up", TaskWords("the spoon")),
    ("take the carrot out of the pot", TaskWords("the carrot")),
    ("open the drawer", TaskWords("the drawer")),
    ("???", TaskWords("the object")),
])
def test_instruction_words(text, words):
    assert parse_instruction(text) == words


def test_fixture_episodes(annotator, episodes):
    assert episodes
    for ep in episodes:
        dec = annotator.annotate(ep)
        names = dec.subtasks
        words = parse_instruction(ep.instruction)
        check_segments([_seg(s) for s in dec.steps], ep.n_steps)
        assert chunk_displacement_error(dec, ep) < 1e-9, "chunks add up to where the arm went"
        for s in dec.steps:
            assert plan_is_consistent(s.plan, s.chunk), (s.plan, s.chunk)
        assert names[:3] == [f"reach {words.target}", f"grasp {words.target}", f"lift {words.target}"], names
        grasp = dec.steps[1]
        assert gripper_event(grasp.chunk, previous=1.0) == "close gripper" and grasp.plan.endswith("close gripper")
        if words.destination:
            assert f"place {words.target} {words.relation} {words.destination}" in names
            place = names.index(f"place {words.target} {words.relation} {words.destination}")
            assert gripper_event(dec.steps[place].chunk, previous=0.0) == "open gripper"
            assert f"move {words.target} to {words.destination}" in names
        else:
            assert len(names) == 3


def _seg(step):
    from harness.data.decomposition import Segment

    return Segment(step.start, step.end, step.subtask)


def test_check_segments_names_the_problem():
    from harness.data.decomposition import Segment

    with pytest.raises(SegmentError, match="starts at 3, expected 2"):
        check_segments([Segment(0, 2, "a"), Segment(3, 5, "b")], 5)
    with pytest.raises(SegmentError, match="end at 4"):
        check_segments([Segment(0, 4, "a")], 5)
    with pytest.raises(SegmentError, match="no sub-task"):
        check_segments([Segment(0, 5, " ")], 5)
    with pytest.raises(SegmentError, match="empty"):
        check_segments([Segment(0, 0, "a"), Segment(0, 5, "b")], 5)


def _episode(deltas: np.ndarray, instruction: str) -> Episode:
    states = np.zeros((len(deltas) + 1, 7))
    states[0, :3] = (0.3, -0.09, 0.26)
    states[1:, :3] = states[0, :3] + np.cumsum(deltas[:, :3], axis=0)
    return Episode("synthetic/traj0", Path("."), instruction, states, deltas, [Path(f"im_{t}.jpg") for t in
                                                                               range(len(states))],
                   date(2022, 1, 1), "dir", False)


_delta = st.tuples(*(st.floats(-0.02, 0.02, allow_nan=False) for _ in range(3)))


@settings(max_examples=150, deadline=None)
@given(moves=st.lists(_delta, min_size=2, max_size=60), switches=st.lists(st.integers(0, 59), max_size=4),
       start_open=st.booleans(), instruction=st.sampled_from(["put the carrot in the pot", "pick up the spoon",
                                                               "wipe the table", "open the drawer"]))
def test_any_trajectory_gets_a_consistent_decomposition(annotator, moves, switches, start_open, instruction):
    n = len(moves)
    grip = np.full(n, 1.0 if start_open else 0.0)
    for s in sorted(set(switches)):
        if s < n:
            grip[s:] = 1.0 - grip[s]
    deltas = np.column_stack([np.array(moves), grip])
    ep = _episode(deltas, instruction)
    dec = annotator.annotate(ep)
    check_segments([_seg(s) for s in dec.steps], n)
    assert chunk_displacement_error(dec, ep) < 1e-9
    assert all(s.chunk and s.plan and s.subtask for s in dec.steps)
    total = np.array([displacement(s.chunk) for s in dec.steps]).sum(axis=0)
    np.testing.assert_allclose(total, deltas[:, :3].sum(axis=0), atol=1e-9)
    again = annotator.annotate(ep)
    assert [(s.start, s.end, s.subtask, s.plan) for s in again.steps] == \
        [(s.start, s.end, s.subtask, s.plan) for s in dec.steps], "deterministic"
    assert len(dec.steps) <= n
    grasps = np.any((grip[:-1] == 1.0) & (grip[1:] == 0.0))
    if not grasps:  # nothing is grasped: steps are motion phases named by direction
        assert all(s.subtask.startswith("move the gripper") or s.subtask == "wait" for s in dec.steps)


def test_a_gripper_closed_at_the_start_is_not_a_release(annotator):
    n = 30
    moves = np.zeros((n, 3))
    moves[:10, 2] = -0.01  # down
    moves[14:24, 2] = 0.01  # up
    grip = np.ones(n)
    grip[:3] = 0.0  # starts closed, opens while reaching
    grip[12:] = 0.0  # grasps at 12
    dec = annotator.annotate(_episode(np.column_stack([moves, grip]), "pick up the carrot"))
    assert dec.subtasks == ["reach the carrot", "grasp the carrot", "lift the carrot"]
