from __future__ import annotations

from harness.data import templates as T


def test_subtasks_target_round_trips():
    subtasks = ["reach the carrot", "grasp the carrot", "lift it"]
    assert T.parse_subtasks(T.subtasks_target(subtasks)) == subtasks
    assert T.parse_subtasks("- reach the cup.\n\n* grasp it") == ["reach the cup", "grasp it"]


def test_prompts_carry_their_context():
    p = T.action_prompt("put the carrot in the pot", "grasp the carrot", "move down")
    assert p.stage == "action" and p.images == 1
    assert "put the carrot in the pot" in p.text and "grasp the carrot" in p.text and "move down" in p.text
    assert T.completion_prompt("lift it").images == 2


def test_messages_structure():
    msgs = T.to_messages(T.plan_prompt("pick up the carrot", "reach the carrot"), "move left")
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    assert msgs[0]["content"][0] == {"type": "image"}
    assert msgs[1]["content"][0]["text"] == "move left"


def test_yes_no():
    assert T.parse_yes_no("Yes.") is True and T.parse_yes_no(" no, not yet") is False
    assert T.parse_yes_no("maybe") is None and T.parse_yes_no("") is None
