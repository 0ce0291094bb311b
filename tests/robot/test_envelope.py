"""The safety envelope: unit cases, and properties - no model text, however malformed, moves the arm outside it."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.actions.types import ActionStep
from harness.policy.validators import NoneValidator
from harness.robot.backend import MotionCommand, SceneSetup
from harness.robot.envelope import Envelope, split_step
from harness.robot.runner import run_trial
from harness.specs import load_robot, load_task
from tests.robot.fakes import RecordingBackend, TextPolicy

ROBOT = load_robot("dry-run")  # box x 0.10..0.45, y -0.20..0.25, z 0..0.30; 5 cm per step
REJECT = dataclasses.replace(ROBOT, out_of_envelope="reject")
START = (0.30, -0.09, 0.26)


def test_ok_step_passes_unchanged():
    chk = Envelope(ROBOT).check(START, 0.02, 0.01, -0.03, 0.0)
    assert chk.verdict == "ok" and chk.command == MotionCommand(0.02, 0.01, -0.03, 0.0) and chk.reasons == []


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_is_rejected_in_both_modes(bad):
    for spec in (ROBOT, REJECT):
        chk = Envelope(spec).check(START, bad, 0.0, 0.0)
        assert chk.verdict == "rejected" and chk.command is None and "non-finite" in chk.reasons[0]
        assert Envelope(spec).check(START, 0.0, 0.0, 0.0, bad).verdict == "rejected"


def test_long_step_is_scaled_or_rejected():
    chk = Envelope(ROBOT).check(START, 0.0, 0.0, -0.08)
    assert chk.verdict == "clipped" and chk.command.dz == pytest.approx(-0.05) and "scaled down" in chk.reasons[-1]
    assert Envelope(REJECT).check(START, 0.0, 0.0, -0.08).verdict == "rejected"


def test_target_outside_box_is_clamped_or_rejected():
    chk = Envelope(ROBOT).check((0.44, 0.0, 0.29), 0.03, 0.0, 0.03)  # would end at x 0.47, z 0.32
    assert chk.verdict == "clipped"
    assert chk.command.dx == pytest.approx(0.01) and chk.command.dz == pytest.approx(0.01)
    assert "clamped" in chk.reasons[0]
    assert Envelope(REJECT).check((0.44, 0.0, 0.29), 0.03, 0.0, 0.03).verdict == "rejected"


def test_gripper_out_of_range():
    assert Envelope(ROBOT).check(START, 0, 0, 0, 1.7).command.gripper == 1.0
    assert Envelope(REJECT).check(START, 0, 0, 0, -0.2).verdict == "rejected"


def test_arm_outside_box_is_only_brought_back():
    near = Envelope(ROBOT).check((0.48, 0.0, 0.1), 0.01, 0.0, 0.0)  # 3 cm beyond x max, asked to go further out
    assert near.verdict == "clipped" and near.command.dx == pytest.approx(-0.03)  # back onto the box face
    far = Envelope(ROBOT).check((0.55, 0.0, 0.1), 0.01, 0.0, 0.0)  # 10 cm out: no single step reaches the box
    assert far.verdict == "rejected" and far.command is None


def test_split_step_keeps_the_whole_motion():
    parts = split_step(ActionStep(0.0, 0.03, -0.06, 0.0), 0.05)
    assert len(parts) == 2
    assert sum(p.dz for p in parts) == pytest.approx(-0.06) and sum(p.dy for p in parts) == pytest.approx(0.03)
    assert all(math.hypot(p.dx, p.dy, p.dz) <= 0.05 for p in parts)
    assert [p.gripper for p in parts] == [0.0, None]
    assert split_step(ActionStep(0.05, 0, 0), 0.05) == [ActionStep(0.05, 0, 0)]


# ------------------------------------------------------------------ properties
coord = st.floats(allow_nan=True, allow_infinity=True, width=64)
inside = st.tuples(st.floats(0.10, 0.45), st.floats(-0.20, 0.25), st.floats(0.0, 0.30))


@settings(max_examples=400, deadline=None)
@given(position=inside, d=st.tuples(coord, coord, coord), g=st.one_of(st.none(), coord),
       mode=st.sampled_from(["clip", "reject"]))
def test_envelope_output_is_always_admissible(position, d, g, mode):
    env = Envelope(ROBOT if mode == "clip" else REJECT)
    chk = env.check(position, *d, g)
    if chk.command is not None:
        assert env.admits(position, chk.command)
    if mode == "reject" and chk.command is not None:
        assert (chk.command.dx, chk.command.dy, chk.command.dz) == d  # reject mode never alters a step
    if mode == "clip" and all(math.isfinite(v) for v in d) and (g is None or math.isfinite(g)):
        assert chk.command is not None  # from inside the box, clipping always finds a safe step


number = st.one_of(st.floats(0, 2000, allow_nan=False).map(lambda v: f"{v:.1f}"), st.integers(0, 10**6).map(str),
                   st.sampled_from(["4.2", "0", "999.9", "1e9", "-3", "nan", "inf", "12.345", ".5", "+7"]))
direction = st.sampled_from(["forward", "backward", "back", "left", "right", "up", "down", "sideways", ""])
unit = st.sampled_from(["cm", "mm", "centimeters", "m", "", "inches"])
phrase = st.one_of(
    st.builds(lambda d, n, u: f"move {d} {n} {u}", direction, number, unit),
    st.builds(lambda n, u, d: f"{n} {u} {d}", number, unit, direction),
    st.sampled_from(["open gripper", "close gripper", "stay", "close the gripper", "gripper open", "grab it"]),
    st.text(max_size=20),
)
step_text = st.lists(phrase, min_size=1, max_size=4).map(", ".join)
model_text = st.one_of(st.lists(step_text, min_size=1, max_size=5).map("; ".join),
                       st.lists(step_text, min_size=1, max_size=4).map(lambda s: "\n".join(f"{i + 1}. {t}" for i, t in enumerate(s))),
                       st.text(max_size=80))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(texts=st.lists(model_text, min_size=1, max_size=4), start=inside, mode=st.sampled_from(["clip", "reject"]),
       ik_every=st.integers(0, 4))
def test_no_model_text_moves_the_arm_outside_the_envelope(tmp_path_factory, texts, start, mode, ik_every):
    """text -> codec (may fail) -> runner (split) -> envelope -> backend: every recorded call is admissible."""
    robot = dataclasses.replace(ROBOT if mode == "clip" else REJECT, start_ee=list(start))
    task = dataclasses.replace(load_task("pickup"), cycle_budget=len(texts))
    backend = RecordingBackend(start=start, ik_fail=(lambda i: ik_every and i % ik_every == 0))
    policy = TextPolicy(texts)
    env = Envelope(robot)
    scene = SceneSetup("pickup", 0, "pick up the carrot", "en", "carrot")
    result = run_trial(policy, backend, NoneValidator(), env, task, scene, tmp_path_factory.mktemp("t"), start)
    for position, command in backend.calls:
        assert env.admits(position, command), (position, command)
    assert result.parse_failures + sum(1 for d in policy.decisions if d.source != "runner") == result.cycles
