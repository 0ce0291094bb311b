"""Fig. 3 log-probabilities on the tiny model: equal to a hand computation from the full logits, end-of-turn
handling, least-likely targets as the chosen ids, and the CLI's CSV and figure."""

from __future__ import annotations

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from harness.cli.main import app
from harness.data.dlan import read_examples
from harness.mechanism.logprob import action_items, logprob_rows, mean_logprob
from harness.mechanism.scoring import token_logprobs
from harness.models import IGNORE_INDEX
from harness.models.least_likely import least_likely_tokens
from harness.records import LogprobRow, read_rows
from harness.train.data import TrainDataset, collate


def _by_hand(loaded, item, ids: list[int]) -> list[float]:
    """log p of each id after the prompt, from one full forward pass over prompt + ids (no shortcuts)."""
    images = [Image.open(p).convert("RGB") for p in item.images]
    prompt = loaded.build_inputs(item.prompt, images)
    n = prompt["input_ids"].shape[1]
    full = {k: v for k, v in prompt.items()}
    full["input_ids"] = torch.cat([prompt["input_ids"], torch.tensor([ids])], dim=1)
    full["attention_mask"] = torch.ones_like(full["input_ids"])
    full["token_type_ids"] = torch.cat([prompt["token_type_ids"], torch.zeros((1, len(ids)), dtype=torch.long)], 1)
    with torch.no_grad():
        logits = loaded.model(**full).logits[0].float()
    logp = torch.log_softmax(logits, dim=-1)
    return [float(logp[n - 1 + i, t]) for i, t in enumerate(ids)]


def test_verbalized_mean_equals_the_hand_computation_without_end_of_turn(tiny_model, dlan_heldout):
    item = action_items(dlan_heldout, "verbalized")[0]
    ids = tiny_model.tokenizer.encode(item.target, add_special_tokens=False)
    hand = _by_hand(tiny_model, item, ids + [tiny_model.end_of_turn_id])
    mean, n = mean_logprob(tiny_model, item)
    assert n == len(ids)
    assert mean == pytest.approx(sum(hand[:-1]) / len(ids), abs=1e-4)
    with_eot, n_eot = mean_logprob(tiny_model, item, include_end_of_turn=True)
    assert n_eot == len(ids) + 1
    assert with_eot == pytest.approx(sum(hand) / len(hand), abs=1e-4)
    assert with_eot != pytest.approx(mean, abs=1e-6)  # the closing token really is excluded by default


def test_least_likely_targets_are_the_models_chosen_ids(tiny_model, dlan_heldout, tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    tokens = least_likely_tokens(tiny_model)
    item = action_items(dlan_heldout, "least_likely", tokens)[0]
    digits = next(e.action_digits for e in read_examples(dlan_heldout, split="heldout")
                  if e.example_id == item.example_id)
    want = [tokens.ids[int(d)] for d in digits]
    assert item.target is None and list(item.target_ids) == want
    # scored as those ids, never re-tokenized from their text
    hand = _by_hand(tiny_model, item, want)
    mean, n = mean_logprob(tiny_model, item)
    assert n == len(digits) and mean == pytest.approx(sum(hand) / len(hand), abs=1e-4)
    rows = logprob_rows(tiny_model, dlan_heldout, progress=False)
    assert {r.representation for r in rows} == {"verbalized", "least_likely"}
    held = [e for e in read_examples(dlan_heldout, split="heldout", stage="action")]
    assert len(rows) == 2 * len(held)
    assert {r.n_tokens for r in rows if r.representation == "least_likely"} == {len(e.action_digits) for e in held}


def test_batched_scoring_with_padding_equals_one_row_at_a_time(tiny_model, dlan_heldout):
    items = action_items(dlan_heldout, "verbalized", split="heldout")
    rows = [TrainDataset(tiny_model, [it])[0] for it in items]
    assert len({int(r["input_ids"].shape[0]) for r in rows}) > 1, "the fixture should give different lengths"
    pad = int(tiny_model.tokenizer.pad_token_id)
    together = token_logprobs(tiny_model.model, collate(pad)(rows))
    for row, got in zip(rows, together, strict=True):
        alone = token_logprobs(tiny_model.model, collate(pad)([row]))[0]
        assert got.shape == alone.shape == ((row["labels"] != IGNORE_INDEX).sum(),)
        assert torch.allclose(got, alone, atol=1e-4)


def test_unknown_representation_and_empty_split_are_refused(tiny_model, dlan_heldout, tmp_path):
    with pytest.raises(ValueError, match="unknown representation"):
        logprob_rows(tiny_model, dlan_heldout, representations=("bins",), progress=False)
    from tests.dlan_fixture import write_dlan

    train_only = write_dlan(tmp_path / "d", episodes=1)
    with pytest.raises(FileNotFoundError, match=r"split 'heldout' is empty .* has train\); .*--split train"):
        logprob_rows(tiny_model, train_only, progress=False)


def test_cli_names_the_empty_split_and_the_flag(tmp_path):
    from tests.dlan_fixture import write_dlan

    train_only = write_dlan(tmp_path / "d", episodes=1)  # a small build: no held-out episode
    result = CliRunner().invoke(app, ["logprob", "--model", "tiny", "--data", str(train_only), "--no-progress"])
    assert result.exit_code == 2
    assert "the D_lan split 'heldout' is empty" in result.output and "--split train" in result.output
    assert "no D_lan shards under data/" not in result.output


def test_cli_writes_rows_and_the_density_plot(dlan_heldout, private_dirs):
    result = CliRunner().invoke(app, ["logprob", "--model", "tiny", "--data", str(dlan_heldout), "--limit", "2",
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    csv = private_dirs / "results" / "mechanism" / "logprob_tiny.csv"
    rows = read_rows(csv, LogprobRow)
    assert len(rows) == 4 and {r.model for r in rows} == {"tiny"}
    assert "verbalized" in result.output and "least_likely" in result.output
    assert csv.with_suffix(".png").stat().st_size > 0 and csv.with_suffix(".pdf").is_file()
    missing = CliRunner().invoke(app, ["logprob", "--model", "tiny", "--data", str(private_dirs / "nothing")])
    assert missing.exit_code == 2 and "vlm2vla data build" in missing.output


def test_the_paper_reference_comes_from_results_paper():
    from harness.reports.paper import PaperLogprobRow, fig3_reference

    rows = [PaperLogprobRow("m", "least_likely", -11.1, ""), PaperLogprobRow("m", "verbalized", -2.0, ""),
            PaperLogprobRow("m", "verbalized", -0.9, "")]
    assert fig3_reference(rows) == ("paper (m, read off Fig. 3): least_likely about -11.1, verbalized about -2 and "
                                    "-0.9 nats/token")
    assert fig3_reference([]) == ""
