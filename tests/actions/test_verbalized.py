"""The verbalized codec: exact round trips, tolerant parsing of plausible model text, typed errors for the rest."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.actions import ActionParseError, ActionStep, VerbalizedCodec, fill_gripper, quantize

codec = VerbalizedCodec(0.1)

metres = st.floats(min_value=-0.2, max_value=0.2, allow_nan=False, allow_infinity=False)
grippers = st.one_of(st.none(), st.sampled_from([0.0, 1.0]), st.floats(min_value=0.0, max_value=1.0))
steps = st.builds(ActionStep, metres, metres, metres, grippers)
chunks = st.lists(steps, min_size=1, max_size=6)


@given(chunks)
@settings(max_examples=400)
def test_decode_encode_is_quantisation(chunk):
    """Encoding then decoding equals the chunk on the 0.1 cm grid with a binary, explicit gripper."""
    assert codec.decode(codec.encode(chunk)) == quantize(fill_gripper(chunk), 0.1)


@given(chunks)
@settings(max_examples=200)
def test_canonical_text_round_trips(chunk):
    text = codec.encode(chunk)
    assert codec.encode(codec.decode(text)) == text


@given(st.text(max_size=80))
@settings(max_examples=500)
def test_arbitrary_text_only_raises_the_typed_error(text):
    try:
        chunk = codec.decode(text)
    except ActionParseError as e:
        assert 0 <= e.position <= len(text)
    else:
        assert chunk and all(isinstance(s, ActionStep) for s in chunk)


@given(st.lists(st.sampled_from(["move", "forward", "back", "left", "up", "down", "cm", "mm", "4.2", "-1", "1.",
                                 ",", ";", "\n", "and", "gripper", "close", "open", "stay", "by", ".", "1)", "-"]),
                max_size=14))
@settings(max_examples=500)
def test_near_miss_token_soup_only_raises_the_typed_error(words):
    try:
        codec.decode(" ".join(words))
    except ActionParseError:
        pass


def test_canonical_example():
    chunk = [ActionStep(0.042, 0.01, -0.035, 0.0)]
    assert codec.encode(chunk) == "move forward 4.2 cm, move left 1.0 cm, move down 3.5 cm, close gripper"


def test_zero_axes_omitted_and_order_fixed():
    assert codec.encode([ActionStep(0.0, -0.02, 0.0004, 1.0)]) == "move right 2.0 cm, open gripper"
    assert codec.encode([ActionStep(0.0, 0.0, 0.03)]) == "move up 3.0 cm"


def test_gripper_stated_on_first_step_and_changes_only():
    text = codec.encode([ActionStep(0.01, 0, 0, 1.0), ActionStep(0.01, 0, 0, 1.0), ActionStep(0, 0, 0, 0.0),
                         ActionStep(0, 0, 0, 0.0)])
    assert text == "move forward 1.0 cm, open gripper; move forward 1.0 cm; close gripper; stay"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Move Forward 4.2 cm, move LEFT 1 cm.", [ActionStep(0.042, 0.01, 0.0)]),
        ("move forward by 4.2 centimeters", [ActionStep(0.042, 0, 0)]),
        ("move back 5 mm, move backwards 0 cm", None),  # same axis twice: rejected below
        ("move down 3.5 cm, move forward 4.2 cm", [ActionStep(0.042, 0.0, -0.035)]),
        ("move 2 cm up", [ActionStep(0, 0, 0.02)]),
        ("move forward 4.2cm and close the gripper", [ActionStep(0.042, 0, 0, 0.0)]),
        ("1. move up 2 cm\n2. open gripper", [ActionStep(0, 0, 0.02), ActionStep(0, 0, 0, 1.0)]),
        ("- move up 2 cm\n- move right 20 millimetres", [ActionStep(0, 0, 0.02), ActionStep(0, -0.02, 0)]),
        ("Step 1: move up 2 cm; Step 2: stay", [ActionStep(0, 0, 0.02), ActionStep(0, 0, 0)]),
        ("  move   backward\t1.5  cm ; ", [ActionStep(-0.015, 0, 0)]),
    ],
)
def test_tolerant_forms(text, expected):
    if expected is None:
        with pytest.raises(ActionParseError, match="given twice"):
            codec.decode(text)
    else:
        assert codec.decode(text) == expected


@pytest.mark.parametrize(
    "text, reason",
    [
        ("", "no action"),
        ("move forward", "unrecognised phrase"),
        ("move sideways 3 cm", "unrecognised phrase"),
        ("move forward -3 cm", "unrecognised phrase"),
        ("-4.2 cm forward", "unrecognised phrase"),
        ("4.2 cm forward", None),  # tolerated: number first, no verb
        ("move forward 3 inches", "unrecognised phrase"),
        ("move forward 3 cm,, close gripper", "empty phrase"),
        ("open gripper, close gripper", "both opened and closed"),
        ("stay, move up 1 cm", "'stay' combined"),
        ("move up 5000 cm", "larger than any step"),
        ("move up 1e3 cm", "unrecognised phrase"),
        ("move up nan cm", "unrecognised phrase"),
        ("move forward ４.２ cm", "unrecognised phrase"),  # full-width digits: ASCII digits only
        ("move left 𝟒 cm", "unrecognised phrase"),  # mathematical bold digit
        ("move left 4.٢ cm", "unrecognised phrase"),  # an Arabic-Indic digit after the point
        ("step ４: move up 1 cm", "unrecognised phrase"),  # not a step marker either
    ],
)
def test_strict_errors_say_why(text, reason):
    if reason is None:
        assert codec.decode(text) == [ActionStep(0.042, 0, 0)]
        return
    with pytest.raises(ActionParseError, match=reason):
        codec.decode(text)


def test_error_position_points_at_the_bad_phrase():
    text = "move up 1 cm, fly left 2 cm"
    with pytest.raises(ActionParseError) as info:
        codec.decode(text)
    assert text[info.value.position:].startswith("fly")


def test_gripper_inherits_within_chunk():
    assert codec.decode("close gripper; move up 2 cm") == [ActionStep(0, 0, 0, 0.0), ActionStep(0, 0, 0.02, 0.0)]


def test_coarser_resolution():
    coarse = VerbalizedCodec(1.0)
    assert coarse.encode([ActionStep(0.042, 0, 0)]) == "move forward 4.0 cm"


def test_encode_rejects_empty_chunk():
    with pytest.raises(ValueError):
        codec.encode([])
