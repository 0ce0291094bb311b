"""The registry's error paths, the embedded build cache, and the least-likely token cache."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from harness.actions import LeastLikelyCodec, LeastLikelyTokens, StaleTokenFileError, tokenizer_fingerprint
from harness.models import CheckpointNotFoundError, ModelLoadError, load_model
from harness.models import least_likely as ll
from harness.models.build_cache import MARKER, cached_build
from harness.models.codec import action_codec
from harness.models.least_likely import least_likely_tokens
from harness.specs import load_model as load_spec
from harness.specs.model import ModelSpec


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny")


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name, hub_id", [("gemma3-base", "google/gemma-3-12b-it"),
                                          ("openvla", "openvla/openvla-7b"),
                                          ("ecot", "Embodied-CoT/ecot-openvla-7b-bridge")])
def test_missing_hub_checkpoint_names_it_and_how_to_get_it(empty_hub, name, hub_id):
    with pytest.raises(CheckpointNotFoundError) as info:
        load_model(name)
    assert f"huggingface-cli download {hub_id}" in str(info.value)
    assert "token" in str(info.value)


def test_missing_adapter_says_how_to_train_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RUNS", str(tmp_path))
    with pytest.raises(ModelLoadError, match="vlm2vla train --model vlm2vla .*--out runs/vlm2vla"):
        load_model("vlm2vla")
    with pytest.raises(ModelLoadError, match="not found"):
        load_model("tiny", adapter=tmp_path / "nothing")


def test_other_types_and_names_are_refused():
    with pytest.raises(ModelLoadError, match="oracle"):
        load_model(ModelSpec(name="o", type="oracle", base="x"))
    with pytest.raises(ValueError, match="unknown embedded model 'embedded:nope'"):
        load_model(ModelSpec(name="n", base="embedded:nope"))


def test_cached_build_is_atomic_and_runs_once(tmp_path):
    dst, calls = tmp_path / "m" / "v1", []

    def broken(d):
        (d / "half").write_text("x")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cached_build(dst, broken, {})
    assert not dst.exists() and list((tmp_path / "m").glob(".v1.tmp*")) == []

    def good(d):
        calls.append(d)
        (d / "weights").write_text("w")

    assert cached_build(dst, good, {"k": 1}) == dst
    assert cached_build(dst, good, {"k": 1}) == dst
    assert len(calls) == 1 and (dst / "weights").read_text() == "w" and json.loads((dst / MARKER).read_text())


def test_tiny_builds_deterministically(tmp_path, monkeypatch):
    from harness.models import tiny as tiny_builder

    a = tiny_builder.build_dir(tmp_path / "a", 32)
    b = tiny_builder.build_dir(tmp_path / "b", 32)
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "tokenizer.json").read_bytes() == (b / "tokenizer.json").read_bytes()


def test_least_likely_tokens_are_cached_and_stale_files_rebuilt(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    calls = []
    real = ll.select_least_likely

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ll, "select_least_likely", counting)
    first = least_likely_tokens(tiny)
    path = ll.cache_path(tiny)
    assert path.is_file() and path.parent == tmp_path / "least-likely" and len(calls) == 1
    assert LeastLikelyTokens.load(path, tiny.tokenizer).ids == first.ids
    assert least_likely_tokens(tiny).ids == first.ids and len(calls) == 1  # served from the cache

    data = json.loads(path.read_text())
    data["tokenizer_fingerprint"] = "0" * 64  # as if made for another tokenizer
    path.write_text(json.dumps(data))
    assert least_likely_tokens(tiny).ids == first.ids and len(calls) == 2  # detected and chosen again
    assert json.loads(path.read_text())["tokenizer_fingerprint"] == tokenizer_fingerprint(tiny.tokenizer)


def test_least_likely_codec_uses_this_tokenizers_tokens(tiny, tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    at = replace(tiny, spec=replace(tiny.spec, action_repr="least-likely"))
    codec = action_codec(at)
    assert isinstance(codec, LeastLikelyCodec) and codec.tokens.ids == least_likely_tokens(at).ids
    chunk = codec.decode(codec.encode(codec.decode_digits([5, 4, 2, 4, 9, 0, 5, 0, 0, 1])))
    assert chunk[0].dx == pytest.approx(0.042)
    assert type(action_codec(tiny)).__name__ == "VerbalizedCodec"


def test_token_file_for_another_tokenizer_is_refused(tiny, tmp_path, experiments_copy):
    other = LeastLikelyTokens(ids=list(range(10, 20)), strings=[str(i) for i in range(10)], mean_logprobs=[0.0] * 10,
                              tokenizer_fingerprint="f" * 64, prompts=["x"])
    other.save(tmp_path / "tokens.json")
    (experiments_copy / "actions" / "ll-file.yaml").write_text(
        f"type: least_likely\nleast_likely: {{token_file: {tmp_path / 'tokens.json'}}}\n")
    at = replace(tiny, spec=replace(load_spec("tiny"), action_repr="ll-file"))
    with pytest.raises(StaleTokenFileError, match="another tokenizer"):
        least_likely_tokens(at)
