"""VLM2VLA-AT: token choice on a real (tiny) tokenizer and model, round trips, staleness, typed errors."""

from __future__ import annotations

import pytest
import transformers
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.actions import (
    ActionParseError,
    ActionStep,
    LeastLikelyCodec,
    LeastLikelyTokens,
    StaleTokenFileError,
    fill_gripper,
    quantize,
    select_least_likely,
)

CORPUS = [
    "the robot picks up the carrot and puts it in the pot",
    "move forward 4.2 cm, move left 1.0 cm, move down 3.5 cm, close gripper",
    "what colour is the cup on the table? the cup is red",
    "zebra quartz jukebox vexing wizard fjord glyph nymph",
] * 20


def _tiny_tokenizer(vocab_size: int = 220, corpus: list[str] = CORPUS):
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="never")  # like Gemma: no dummy prefix
    from tokenizers import decoders

    tok.decoder = decoders.Metaspace(prepend_scheme="never")
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<pad>", "<bos>", "<eos>", "<unk>"])
    tok.train_from_iterator(corpus, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<bos>", eos_token="<eos>",
                                                pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def tokenizer():
    return _tiny_tokenizer()


PROMPTS = ["the robot", "what colour is the cup"]


@pytest.fixture(scope="module")
def model(tokenizer):
    import torch

    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=32, n_layer=1, n_head=2)
    return transformers.GPT2LMHeadModel(config).eval()


@pytest.fixture(scope="module")
def tokens(model, tokenizer):
    return select_least_likely(model, tokenizer, PROMPTS, model_name="tiny-gpt2")


def test_choice_is_ten_usable_distinct_tokens(tokens, tokenizer):
    assert len(set(tokens.ids)) == 10
    special = set(tokenizer.all_special_ids)
    assert not special & set(tokens.ids)
    for tid, s in zip(tokens.ids, tokens.strings, strict=True):
        assert tokenizer.encode(s, add_special_tokens=False) == [tid]
    assert tokens.mean_logprobs == sorted(tokens.mean_logprobs)
    for a in tokens.strings:  # prefix-free, so text decoding is unambiguous
        assert sum(b.startswith(a) for b in tokens.strings) == 1


def test_choice_is_the_lowest_usable(tokens, model, tokenizer):
    """Mean log-probs match an independent computation, and every token ranked below the last chosen one was
    passed over for a recorded reason."""
    import torch

    with torch.no_grad():
        rows = [torch.log_softmax(model(input_ids=tokenizer(p, return_tensors="pt").input_ids).logits[0], -1)
                for p in PROMPTS]
    mean = torch.cat(rows).mean(0)
    for tid, lp in zip(tokens.ids, tokens.mean_logprobs, strict=True):
        assert lp == pytest.approx(float(mean[tid]), abs=1e-5)
    ranked_below = int((mean <= max(tokens.mean_logprobs) + 1e-7).sum())
    assert ranked_below == 10 + sum(tokens.excluded.values())
    assert tokens.model_name == "tiny-gpt2"


chunks = st.lists(
    st.builds(ActionStep, *(st.floats(-0.3, 0.3, allow_nan=False),) * 3,
              st.one_of(st.none(), st.sampled_from([0.0, 1.0]))),
    min_size=1, max_size=4)


@given(chunks)
@settings(max_examples=150, deadline=None)
def test_round_trips_as_ids_and_text(tokens, chunk):
    codec = LeastLikelyCodec(tokens)
    want = quantize(fill_gripper(chunk), 0.1)
    assert codec.decode_ids(codec.encode_ids(chunk)) == want
    assert codec.decode(codec.encode(chunk)) == want


def test_text_tokenizes_back_into_the_intended_ids(tokens, tokenizer):
    codec = LeastLikelyCodec(tokens)
    chunk = [ActionStep(0.042, -0.01, 0.0, 0.0), ActionStep(0.0, 0.0, 0.05, None)]
    assert tokenizer.encode(codec.encode(chunk), add_special_tokens=False) == codec.encode_ids(chunk)


def test_fixed_width_layout(tokens):
    codec = LeastLikelyCodec(tokens)
    digits = codec.encode_digits([ActionStep(0.042, -0.01, 0.0, 1.0)])
    assert digits == [5, 4, 2, 4, 9, 0, 5, 0, 0, 1]


def test_out_of_range_refused(tokens):
    with pytest.raises(ValueError, match="outside"):
        LeastLikelyCodec(tokens).encode([ActionStep(0.6, 0, 0)])


def test_bad_text_raises_typed_error(tokens):
    codec = LeastLikelyCodec(tokens)
    with pytest.raises(ActionParseError):
        codec.decode("move forward 4.2 cm")
    with pytest.raises(ActionParseError, match="whole number of steps"):
        codec.decode(tokens.strings[1] * 7)
    with pytest.raises(ActionParseError, match="gripper symbol"):
        codec.decode_digits([5, 0, 0] * 3 + [7])
    with pytest.raises(ActionParseError):
        codec.decode_ids([-1])


def test_save_load_and_staleness(tokens, tokenizer, tmp_path):
    path = tokens.save(tmp_path / "ll.json")
    again = LeastLikelyTokens.load(path, tokenizer)
    assert again.ids == tokens.ids and again.prompts == tokens.prompts
    other = _tiny_tokenizer(corpus=[c.upper() for c in CORPUS])
    with pytest.raises(StaleTokenFileError, match="another tokenizer"):
        LeastLikelyTokens.load(path, other)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a least-likely token file"):
        LeastLikelyTokens.load(tmp_path / "broken.json")


def test_digit_layout_needs_no_model():
    from harness.actions import chunk_to_digits, digits_to_chunk

    chunk = [ActionStep(0.042, -0.01, 0.0, 1.0), ActionStep(0.0, 0.0, 0.05, None)]
    digits = chunk_to_digits(chunk)
    assert digits[:10] == [5, 4, 2, 4, 9, 0, 5, 0, 0, 1]
    assert digits_to_chunk(digits) == quantize(fill_gripper(chunk), 0.1)
