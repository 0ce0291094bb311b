"""The Gemini annotator with injected faults (no network): fallbacks counted, cache, retries, concurrency, cost."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from harness.actions import gripper_event, motion_plan
from harness.cli.main import app
from harness.data.build import BuildConfig, Builder
from harness.data.dlan import read_examples
from harness.data.gemini import (
    API_KEY_ENV,
    GeminiAnnotator,
    GeminiDecomposition,
    GeminiSetupError,
    build_request,
    check_answer,
    key_frames,
    make_client,
    parse_answer,
    trajectory_text,
)
from harness.data.manifest import Manifest
from harness.specs.data import GeminiSpec
from tests.data.fake_gemini import FakeGeminiClient, mock_transport_client, oracle_answer


def _annotator(config, client, cache, **spec):
    gspec = GeminiSpec(**{"retry_initial_delay_s": 0.0, "retry_max_delay_s": 0.0, **spec})
    return GeminiAnnotator(config.decomposition, gspec, config.spec.rules, client=client, cache=cache)


def test_good_answers_are_used_and_cached(config, episodes, tmp_path):
    fake = FakeGeminiClient()
    ann = _annotator(config, fake, tmp_path / "cache")
    results = ann.annotate_many(episodes)
    assert fake.calls == len(episodes)
    for ep, (dec, info) in zip(episodes, results, strict=True):
        assert dec.annotator == "gemini" and not dec.fallback_reason and not info["cached"]
        assert dec.subtasks[0] == f"step 1 of {ep.instruction}"
        total = np.array([[s.dx, s.dy, s.dz] for st in dec.steps for s in st.chunk]).sum(axis=0)
        np.testing.assert_allclose(total, ep.displacement(), atol=1e-9)  # chunks from the real deltas
    u = ann.usage
    assert (u.calls, u.cache_hits, u.prompt_tokens, u.output_tokens) == (len(episodes), 0, 1200 * len(episodes),
                                                                        800 * len(episodes))
    assert u.cost_usd == pytest.approx(len(episodes) * (1200 * 1.25 + 800 * 10.0) / 1e6)

    fake2 = FakeGeminiClient()
    again = _annotator(config, fake2, tmp_path / "cache").annotate_many(episodes)
    assert fake2.calls == 0, "a re-run costs zero API calls"
    assert [d.subtasks for d, _ in again] == [d.subtasks for d, _ in results]
    assert all(info["cached"] for _, info in again)


FAULTS = ["429", "503", "timeout", "invalid_json", "inconsistent", "bad_boundaries", "empty"]
CODES = {"429": "api_429", "503": "api_503", "timeout": "timeout", "invalid_json": "invalid_json",
         "inconsistent": "displacement_mismatch", "bad_boundaries": "bad_boundaries", "empty": "empty_response"}


def test_faults_fall_back_to_rules_and_are_counted(config, episodes, tmp_path):
    def sig(ep):  # the first states identify an episode in its prompt
        return "\n".join(trajectory_text(ep).splitlines()[:2])

    injected = {sig(ep): FAULTS[i] for i, ep in enumerate(episodes[: len(FAULTS)])}
    assert len(injected) == len(FAULTS) < len(episodes)

    def fault(i, prompt):
        return next((k for s, k in injected.items() if s in prompt), None)

    fake = FakeGeminiClient(fault)
    ann = _annotator(config, fake, tmp_path / "cache", concurrency=3)
    results = ann.annotate_many(episodes)
    for ep, (dec, _) in zip(episodes, results, strict=True):
        kind = injected.get(sig(ep))
        if kind is None:
            assert dec.annotator == "gemini"
        else:
            assert dec.annotator == "gemini->rules" and dec.fallback_reason.startswith(CODES[kind]), dec.fallback_reason
            assert dec.subtasks == ann.rules.annotate(ep).subtasks
    assert ann.usage.fallbacks == {CODES[k]: 1 for k in FAULTS}
    assert ann.usage.api_errors == 3

    # neither API failures nor answers that fail validation are cached: a re-run asks again for all seven
    fake2 = FakeGeminiClient()
    again = _annotator(config, fake2, tmp_path / "cache").annotate_many(episodes)
    assert fake2.calls == len(FAULTS)
    assert all(dec.annotator == "gemini" for dec, _ in again)


def test_bounded_concurrency(config, episodes, tmp_path):
    fake = FakeGeminiClient(delay_s=0.05)
    _annotator(config, fake, tmp_path / "cache", concurrency=2).annotate_many(episodes)
    assert fake.peak_in_flight == 2
    fake1 = FakeGeminiClient(delay_s=0.01)
    _annotator(config, fake1, tmp_path / "cache1", concurrency=1).annotate_many(episodes[:3])
    assert fake1.peak_in_flight == 1


def test_sdk_retries_429_503_and_timeouts(config, episodes, tmp_path):
    spec = GeminiSpec(retry_attempts=5, retry_initial_delay_s=0.0, retry_max_delay_s=0.0)
    client, seen = mock_transport_client(spec, [429, 503, "timeout", "oracle"])
    ann = GeminiAnnotator(config.decomposition, spec, client=client, cache=tmp_path / "cache")
    dec, info = ann.annotate(episodes[0])
    assert len(seen) == 4 and dec.annotator == "gemini" and info["tokens"] == {"prompt": 900, "output": 300}
    body = json.loads(seen[-1].content)
    parts = body["contents"][0]["parts"]
    assert [p["inlineData"]["mime_type"] for p in parts[:-1]] == ["image/jpeg"] * len(key_frames(episodes[0], 8))
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert "responseSchema" in body["generationConfig"] or "responseJsonSchema" in body["generationConfig"]

    client, seen = mock_transport_client(spec, [503])
    ann = GeminiAnnotator(config.decomposition, spec, client=client, cache=tmp_path / "cache2")
    dec, _ = ann.annotate(episodes[1])
    assert len(seen) == 5, "gave up after retry_attempts"
    assert dec.annotator == "gemini->rules" and dec.fallback_reason.startswith("api_503")


def test_missing_key_or_sdk_is_explained(monkeypatch, raw_fixture, tmp_path):
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    with pytest.raises(GeminiSetupError, match="GEMINI_API_KEY is not set.*--annotator rules"):
        make_client(GeminiSpec())
    result = CliRunner().invoke(app, ["data", "build", "--source", str(raw_fixture), "--out", str(tmp_path / "o"),
                                      "--annotator", "gemini", "--no-progress"])
    assert result.exit_code == 2 and "GEMINI_API_KEY is not set" in result.output


def test_request_content_and_checks(episodes, config):
    ep = episodes[0]
    spec = GeminiSpec()
    req = build_request(ep, spec)
    frames = key_frames(ep, spec.max_key_frames)
    assert frames[0] == 0 and frames[-1] == ep.n_steps and len(frames) == spec.max_key_frames
    events = [t for t in range(1, ep.n_steps) if ep.deltas[t, 3] != ep.deltas[t - 1, 3]]
    assert set(events) <= set(frames)
    assert "+x forward" in req.prompt and "+y left" in req.prompt and f"t={ep.n_steps} " in req.prompt
    assert ep.instruction in req.prompt and req.key == build_request(ep, spec).key
    assert req.key != build_request(ep, GeminiSpec(model="gemini-2.5-flash")).key

    good = GeminiDecomposition.model_validate(oracle_answer(req.prompt))
    assert [s.start for s in check_answer(good, ep, 1.0)] == [s.first_state for s in good.steps]
    off = good.model_copy(deep=True)
    off.steps[0].left_cm += 1.5
    with pytest.raises(ValueError, match="displacement_mismatch.*left"):
        check_answer(off, ep, 1.0)
    with pytest.raises(ValueError, match="invalid_json"):
        parse_answer('{"steps": [{"first_state": "zero"}]}')


def test_build_with_gemini_records_fallbacks_and_cost(raw_fixture, tmp_path):
    config = BuildConfig.load("bridge", "gemini")
    fake = FakeGeminiClient(lambda i, p: "inconsistent" if "pick" in p.split("\n")[1] else None)
    ann = GeminiAnnotator(config.decomposition, config.spec.gemini, config.spec.rules, client=fake,
                          cache=tmp_path / "cache")
    out = tmp_path / "dlan"
    report = Builder(raw_fixture, out, config, annotator=ann, progress=False).run()
    assert report.usage["calls"] == report.processed == fake.calls
    entries = [e for _, e in Manifest(out).episodes() if e["status"] == "ok"]
    assert {e["annotator"] for e in entries} == {"gemini", "gemini->rules"}
    assert {e["annotator"] for e in entries if e.get("fallback")} == {"gemini->rules"}
    card = (out / "README.md").read_text()
    assert "fell back to rules because: displacement_mismatch" in card and "Gemini tokens behind this dataset" in card
    assert json.loads((out / "gemini_usage.json").read_text())["calls"] == fake.calls
    assert {r.annotator for r in read_examples(out)} == {"gemini", "gemini->rules"}

    # after the D_lan directory is lost: valid answers come from the cache, the inconsistent ones are asked again
    fake2 = FakeGeminiClient(lambda i, p: "inconsistent" if "pick" in p.split("\n")[1] else None)
    ann2 = GeminiAnnotator(config.decomposition, config.spec.gemini, config.spec.rules, client=fake2,
                           cache=tmp_path / "cache")
    report2 = Builder(raw_fixture, tmp_path / "dlan2", config, annotator=ann2, progress=False).run()
    fell_back = sum(1 for e in entries if e.get("fallback"))
    assert fell_back > 0 and fake2.calls == fell_back
    assert report2.usage["cache_hits"] == report.processed - fell_back


def test_an_invalid_answer_is_not_cached(config, episodes, tmp_path):
    ep = episodes[0]
    fake = FakeGeminiClient(lambda i, p: "invalid_json")
    dec, _ = _annotator(config, fake, tmp_path / "cache").annotate(ep)
    assert dec.annotator == "gemini->rules" and fake.calls == 1
    assert not list((tmp_path / "cache").rglob("*.json")), "nothing cached"
    fake2 = FakeGeminiClient()
    ann = _annotator(config, fake2, tmp_path / "cache")
    dec, info = ann.annotate(ep)
    assert fake2.calls == 1 and dec.annotator == "gemini" and not info["cached"], "the second run asks again"
    dec, info = ann.annotate(ep)
    assert fake2.calls == 1 and info["cached"], "the valid answer is cached"


def test_a_cached_answer_that_no_longer_validates_is_asked_again(config, episodes, tmp_path):
    """Caches written before answers were validated first hold failed answers: they are dropped, not reused."""
    ep = episodes[0]
    ann = _annotator(config, FakeGeminiClient(), tmp_path / "cache")
    key = build_request(ep, ann.spec).key
    ann._store(key, {"text": '{"steps": [', "tokens": {"prompt": 10, "output": 5}, "model": ann.spec.model})
    fake = FakeGeminiClient()
    ann = _annotator(config, fake, tmp_path / "cache")
    dec, info = ann.annotate(ep)
    assert fake.calls == 1 and dec.annotator == "gemini" and not info["cached"]
    assert ann.usage.invalid_cached == 1 and ann.usage.cache_hits == 0
    assert json.loads(ann._cache_path(key).read_text())["text"].startswith('{"steps": [{')


def test_gemini_plans_are_used_when_they_agree(config, episodes, tmp_path):
    fake = FakeGeminiClient()
    ann = _annotator(config, fake, tmp_path / "cache")
    results = ann.annotate_many(episodes)
    steps = 0
    for ep, (dec, _), prompt in zip(episodes, results, _prompts_in_order(fake, episodes), strict=True):
        said = [s["motion_plan"] for s in oracle_answer(prompt)["steps"]]
        assert dec.plan_disagreements == 0
        for step, plan in zip(dec.steps, said, strict=True):
            event = gripper_event(step.chunk, _previous(ep, step))
            assert step.plan == (plan if not event else f"{plan}, then {event}" if plan != "stay" else event)
            steps += 1
    assert ann.usage.plans_used == steps and ann.usage.plan_disagreements == 0
    # the rules would have written other plans for some steps ("slightly ..." components): Gemini's are kept
    assert any(s.plan != motion_plan(s.chunk, config.decomposition.plan, _previous(ep, s))
               for ep, (d, _) in zip(episodes, results, strict=True) for s in d.steps)

    off = _annotator(config, FakeGeminiClient(), tmp_path / "cache", use_plans=False).annotate_many(episodes)
    assert all(s.plan == motion_plan(s.chunk, config.decomposition.plan, _previous(ep, s))
               for ep, (d, _) in zip(episodes, off, strict=True) for s in d.steps)


def test_a_disagreeing_plan_gets_the_rule_plan_and_is_counted(config, episodes, raw_fixture, tmp_path):
    victim = "\n".join(trajectory_text(episodes[0]).splitlines()[:2])
    fake = FakeGeminiClient(lambda i, p: "wrong_plan" if victim in p else None)
    ann = _annotator(config, fake, tmp_path / "cache")
    dec, _ = ann.annotate(episodes[0])
    first = dec.steps[0]
    assert dec.annotator == "gemini" and dec.plan_disagreements == 1
    assert first.plan == motion_plan(first.chunk, config.decomposition.plan, None)
    assert ann.usage.plan_disagreements == 1 and ann.usage.plans_used == len(dec.steps) - 1

    # counted in the build summary: the card and the CLI line
    cfg = BuildConfig.load("bridge", "gemini")
    wrong = FakeGeminiClient(lambda i, p: "wrong_plan" if "pick" in p.split("\n")[1] else None)
    ann = GeminiAnnotator(cfg.decomposition, cfg.spec.gemini, cfg.spec.rules, client=wrong, cache=tmp_path / "c2")
    out = tmp_path / "dlan"
    report = Builder(raw_fixture, out, cfg, annotator=ann, progress=False).run()
    n = report.usage["plan_disagreements"]
    entries = [e for _, e in Manifest(out).episodes() if e["status"] == "ok"]
    assert n > 0 and sum(e.get("plan_disagreements", 0) for e in entries) == n
    total = sum(e["steps"] for e in entries)
    assert f"Gemini's on {total - n} of the {total} steps Gemini annotated; {n} named other" in (out / "README.md").read_text()



def _previous(ep, step):
    """The gripper state before the step (as the plan writers see it)."""
    return float(ep.deltas[step.start - 1, 3]) if step.start > 0 else None


def _prompts_in_order(fake, episodes):
    sigs = ["\n".join(trajectory_text(ep).splitlines()[:2]) for ep in episodes]
    return [next(p for p in fake.prompts if sig in p) for sig in sigs]


def test_retry_fallbacks_asks_again_for_answers_that_failed_validation(raw_fixture, tmp_path):
    cfg = BuildConfig.load("bridge", "gemini")
    bad = FakeGeminiClient(lambda i, p: "invalid_json" if "pick" in p.split("\n")[1] else None)
    ann = GeminiAnnotator(cfg.decomposition, cfg.spec.gemini, cfg.spec.rules, client=bad, cache=tmp_path / "c")
    out = tmp_path / "dlan"
    Builder(raw_fixture, out, cfg, annotator=ann, progress=False).run()
    fell_back = [e for _, e in Manifest(out).episodes() if e.get("fallback")]
    assert fell_back and all(e["fallback"].startswith("invalid_json") for e in fell_back)
    good = FakeGeminiClient()
    ann = GeminiAnnotator(cfg.decomposition, cfg.spec.gemini, cfg.spec.rules, client=good, cache=tmp_path / "c")
    Builder(raw_fixture, out, cfg, annotator=ann, progress=False, retry_fallbacks=True).run()
    assert good.calls == len(fell_back)
    assert {e["annotator"] for _, e in Manifest(out).episodes() if e["status"] == "ok"} == {"gemini"}
