"""VLM2VLA-AT: an adapter carries the least-likely ids it was trained with; inference serves those, never a
recomputed choice, and refuses ids made for another tokenizer."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from harness.actions import StaleTokenFileError
from harness.models import load_model
from harness.models.least_likely import TOKEN_FILE, least_likely_tokens
from harness.specs import load_model as load_spec
from harness.train.recipe import train
from tests.dlan_fixture import write_dlan


@pytest.fixture(scope="module")
def at_adapter(tmp_path_factory):
    root = tmp_path_factory.mktemp("at")
    with pytest.MonkeyPatch.context() as mp:
        for var, sub in (("VLM2VLA_RUNS", "runs"), ("VLM2VLA_RESULTS", "results"), ("VLM2VLA_CACHE", "cache")):
            mp.setenv(var, str(root / sub))
        spec = replace(load_spec("tiny"), name="tiny-at", action_repr="least-likely")
        data = write_dlan(root / "dlan", episodes=2)
        result = train(spec, data, root / "run", recipe="lora-cpu", max_steps=1, progress=False)
        yield spec, result.adapter_dir, root


def test_adapter_is_saved_with_its_tokens_and_serves_them(at_adapter, monkeypatch):
    spec, adapter_dir, root = at_adapter
    saved = json.loads((adapter_dir / TOKEN_FILE).read_text())
    assert saved["ids"] == json.loads((adapter_dir.parent / TOKEN_FILE).read_text())["ids"]
    # elsewhere (another GPU or dtype) a near tie flipped: the recomputed choice would differ
    flipped = dict(saved, ids=[*saved["ids"][1:], saved["ids"][0]])
    monkeypatch.setenv("VLM2VLA_CACHE", str(root / "other-machine"))
    loaded = load_model(spec, adapter=adapter_dir)
    from harness.models.least_likely import cache_path

    cache_path(loaded).parent.mkdir(parents=True, exist_ok=True)
    cache_path(loaded).write_text(json.dumps(flipped))
    assert least_likely_tokens(loaded).ids == saved["ids"]
    assert least_likely_tokens(load_model(spec)).ids == flipped["ids"]  # the base alone uses the local choice


def test_tokens_of_another_tokenizer_are_refused(at_adapter, tmp_path):
    import shutil

    spec, adapter_dir, _ = at_adapter
    other = tmp_path / "adapter"
    shutil.copytree(adapter_dir, other)
    data = json.loads((other / TOKEN_FILE).read_text())
    (other / TOKEN_FILE).write_text(json.dumps(dict(data, tokenizer_fingerprint="0" * 64)))
    with pytest.raises(StaleTokenFileError, match="another tokenizer"):
        least_likely_tokens(load_model(spec, adapter=other))
