"""D_lan rows: both representations written from one decomposition, prompts from the shared templates."""

from __future__ import annotations

import json

import pytest

from harness.actions import VerbalizedCodec, chunk_from_lists, digits_to_chunk, quantize
from harness.data import templates
from harness.data.build import split_of
from harness.data.examples import Writers, direction_label, episode_examples, needed_images
from harness.data.rules import RulesAnnotator
from harness.specs.data import AuxSpec, DataSpec


@pytest.fixture(scope="module")
def rows_of(config, episodes):
    annotator = RulesAnnotator(config.decomposition, config.spec.rules)
    writers = Writers.from_specs(config.verbalized, config.least_likely)
    out = []
    for ep in episodes:
        dec = annotator.annotate(ep)
        images = [f"images/{ep.episode_id}/{p.name}" for p in ep.image_paths]
        out.append((ep, dec, episode_examples(ep, dec, "train", images, writers, config.spec.aux)))
    return out


def test_both_representations_are_the_same_chunk(rows_of, config):
    codec = VerbalizedCodec(config.verbalized.resolution_cm)
    digits = config.least_likely.least_likely.digits
    n = 0
    for _, dec, rows in rows_of:
        actions = [r for r in rows if r.stage == "action"]
        assert len(actions) == len(dec.steps)
        for r, step in zip(actions, dec.steps, strict=True):
            from_text = codec.decode(r.target)
            from_digits = digits_to_chunk([int(c) for c in r.action_digits], digits, config.least_likely.resolution_cm)
            exact = quantize(step.chunk, 0.1)
            assert [s.translation for s in from_text] == [s.translation for s in exact]
            assert [s.translation for s in from_digits] == [s.translation for s in exact]
            assert chunk_from_lists(json.loads(r.chunk_json)) == [
                type(s)(*(round(v, 6) for v in s.translation), s.gripper) for s in step.chunk]
            assert r.plan == step.plan and r.subtask == step.subtask
            n += 1
    assert n > 10


def test_prompts_come_from_the_templates(rows_of):
    for ep, dec, rows in rows_of:
        by_stage = {}
        for r in rows:
            by_stage.setdefault(r.stage, []).append(r)
            assert r.example_id == f"{ep.episode_id}/{r.stage}/{r.example_id.rsplit('/', 1)[1]}"
            assert all(img.startswith(f"images/{ep.episode_id}/") for img in r.images)
        (sub,) = by_stage["subtasks"]
        assert sub.prompt == templates.subtasks_prompt(ep.instruction).text
        assert templates.parse_subtasks(sub.target) == dec.subtasks
        assert sub.images == [f"images/{ep.episode_id}/{ep.image_paths[0].name}"]
        for r, s in zip(by_stage["plan"], dec.steps, strict=True):
            assert r.prompt == templates.plan_prompt(ep.instruction, s.subtask).text and r.target == s.plan
            assert r.images == [f"images/{ep.episode_id}/{ep.image_paths[s.start].name}"]
        for r, s in zip(by_stage["action"], dec.steps, strict=True):
            assert r.prompt == templates.action_prompt(ep.instruction, s.subtask, s.plan).text
        ids = [r.example_id for r in rows]
        assert len(ids) == len(set(ids))


def test_completion_pairs_are_balanced_and_point_at_the_right_images(rows_of):
    for ep, dec, rows in rows_of:
        comp = [r for r in rows if r.stage == "completion"]
        assert [r.target for r in comp] == ["yes", "no"] * len(dec.steps)
        img = [f"images/{ep.episode_id}/{p.name}" for p in ep.image_paths]
        for i, s in enumerate(dec.steps):
            pos, neg = comp[2 * i], comp[2 * i + 1]
            assert pos.subtask == s.subtask and pos.images == [img[s.start], img[s.end]]
            assert pos.prompt == templates.completion_prompt(s.subtask).text
            assert neg.subtask != s.subtask or len(dec.steps) == 1 or i == len(dec.steps) - 1
            if i + 1 < len(dec.steps):
                assert neg.subtask == dec.steps[i + 1].subtask and neg.images == pos.images


def test_direction_questions_follow_the_sideways_motion(rows_of, config):
    aux = config.spec.aux
    for _, dec, rows in rows_of:
        for r in (r for r in rows if r.stage == "direction"):
            dy = sum(s.dy for s in dec.steps[r.step_index].chunk)
            assert r.target == direction_label(dy, aux) and r.target in ("left", "right", "none")
            assert r.prompt == templates.direction_prompt().text
    assert direction_label(0.03, AuxSpec()) == "left" and direction_label(-0.02, AuxSpec()) == "right"
    assert direction_label(0.001, AuxSpec()) == "none" and direction_label(0.01, AuxSpec()) is None


def test_aux_examples_can_be_switched_off(config, episodes):
    ep = episodes[0]
    dec = RulesAnnotator(config.decomposition).annotate(ep)
    rows = episode_examples(ep, dec, "train", [f"i/{t}" for t in range(len(ep.image_paths))],
                            Writers.from_specs(config.verbalized, config.least_likely),
                            AuxSpec(completion=False, direction=False))
    assert {r.stage for r in rows} == {"subtasks", "plan", "action"}
    assert needed_images(dec) == sorted({s.start for s in dec.steps} | {dec.steps[-1].end})


def test_heldout_split_is_a_stable_hash():
    spec = DataSpec(name="x", heldout_fraction=0.1)
    ids = [f"scene/task/00/2022-01-01_00-00-00/raw/traj_group{g}/traj{j}" for g in range(50) for j in range(40)]
    splits = [split_of(i, spec) for i in ids]
    assert splits == [split_of(i, spec) for i in ids]
    assert 0.07 < splits.count("heldout") / len(ids) < 0.13
    other = DataSpec(name="x", heldout_fraction=0.1, split_salt="another")
    assert splits != [split_of(i, other) for i in ids]
    assert all(split_of(i, DataSpec(name="x", heldout_fraction=0.0)) == "train" for i in ids[:50])
