"""The embedded Gemma-3-270M: the vision graft leaves its text ability untouched, and it trains end to end.

Slow: the first run converts the GGUF (minutes); later runs load the cached safetensors.
"""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vlm():
    from harness.models import load_model

    return load_model("gemma3-270m")


def test_graft_keeps_text_only_logits_identical(vlm):
    from transformers import AutoTokenizer, Gemma3ForCausalLM

    from harness.models.gemma3_270m import text_dir
    from harness.paths import cache_dir

    plain_dir = text_dir(cache_dir())
    plain = Gemma3ForCausalLM.from_pretrained(plain_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(plain_dir)
    text = ["The robot arm picks up the carrot and puts it in the pot.",
            "<start_of_turn>user\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"]
    for t in text:
        ids = tokenizer(t, return_tensors="pt").input_ids
        with torch.no_grad():
            want = plain(input_ids=ids).logits
            got = vlm.model(input_ids=ids).logits
        assert got.shape == want.shape and torch.equal(got, want)
    # the pretrained model, not noise: English text is far more likely than under a uniform guess (12.5 nats)
    ids = tokenizer(text[0], return_tensors="pt").input_ids
    with torch.no_grad():
        nll = float(vlm.model(input_ids=ids, labels=ids).loss)
    assert nll < 5.0


def test_zero_projector_makes_images_invisible_until_trained(vlm):
    from PIL import Image

    from harness.data import templates as T

    p = T.plan_prompt("pick up the carrot", "reach the carrot")
    a = vlm.build_inputs(p, [Image.new("RGB", (64, 64), (255, 0, 0))])
    b = vlm.build_inputs(p, [Image.new("RGB", (64, 64), (0, 0, 255))])
    assert int((a["input_ids"] == vlm.model.config.image_token_id).sum()) == 16
    with torch.no_grad():
        assert torch.equal(vlm.model(**a).logits, vlm.model(**b).logits)
    assert vlm.tokenizer.image_token_id == 262144 == vlm.model.config.text_config.vocab_size


def test_the_64_token_variant_differs_only_in_its_image_tokens(vlm):
    from harness.models import load_model

    fine = load_model("gemma3-270m-64")
    assert fine.base_dir != vlm.base_dir and fine.model.config.mm_tokens_per_image == 64
    ids = vlm.tokenizer("The robot arm picks up the carrot.", return_tensors="pt").input_ids
    with torch.no_grad():
        assert torch.equal(fine.model(input_ids=ids).logits, vlm.model(input_ids=ids).logits)
    from PIL import Image

    from harness.data import templates as T

    inputs = fine.build_inputs(T.plan_prompt("pick up the carrot", "reach the carrot"), [Image.new("RGB", (64, 64))])
    assert int((inputs["input_ids"] == fine.model.config.image_token_id).sum()) == 64


def test_a_few_training_steps_end_to_end(tmp_path, monkeypatch):
    from harness.models import load_model
    from harness.train.recipe import train
    from tests.dlan_fixture import write_dlan

    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path / "results"))
    data = write_dlan(tmp_path / "dlan", episodes=2)
    result = train("gemma3-270m", data, tmp_path / "run", recipe="lora-cpu", max_steps=3, progress=False)
    assert result.steps == 3 and result.first_loss is not None and torch.isfinite(torch.tensor(result.last_loss))
    tuned = load_model("gemma3-270m", adapter=result.adapter_dir)
    assert isinstance(tuned.generate(["move"], max_new_tokens=4), str)
