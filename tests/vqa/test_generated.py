"""The embedded suite: deterministic, in VLMEvalKit's format and naming rules, loadable by VLMEvalKit's classes."""

from __future__ import annotations

import ast
import os

import pandas as pd
import pytest

from harness.vqa import generated

MME_CATEGORIES = {"OCR", "artwork", "celebrity", "color", "count", "existence", "landmark", "position", "posters",
                  "scene", "code_reasoning", "commonsense_reasoning", "numerical_calculation", "text_translation"}
OCRBENCH_CATEGORIES = {"Regular Text Recognition", "Irregular Text Recognition", "Artistic Text Recognition",
                       "Handwriting Recognition", "Digit String Recognition", "Non-Semantic Text Recognition",
                       "Scene Text-centric VQA", "Doc-oriented VQA", "Key Information Extraction",
                       "Handwritten Mathematical Expression Recognition"}


def _read(root, name) -> pd.DataFrame:
    return pd.read_csv(root / f"{name}.tsv", sep="\t")


def test_staging_is_deterministic(tmp_path):
    a, b = generated.stage(tmp_path / "a"), generated.stage(tmp_path / "b")
    assert list(a) == list(generated.BUILDERS)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name


def test_an_edited_copy_is_rebuilt_with_its_cached_images(staged, tmp_path):
    root = tmp_path / "lmu"
    paths = generated.stage(root)
    original = paths["MMStar_EMB"].read_bytes()
    stale_image = root / "images" / "MMStar_EMB" / "0.png"
    stale_image.parent.mkdir(parents=True)
    stale_image.write_bytes(b"stale")
    paths["MMStar_EMB"].write_bytes(original.replace(b"colour", b"color"))
    assert not generated.is_staged(root)
    generated.stage(root)
    assert generated.is_staged(root)
    assert paths["MMStar_EMB"].read_bytes() == original
    assert not stale_image.exists()  # VLMEvalKit would otherwise reuse it for the new TSV


def test_up_to_date_copy_is_reused(tmp_path):
    paths = generated.stage(tmp_path)
    mtime = os.stat(paths["MME_EMB"]).st_mtime_ns
    generated.stage(tmp_path)
    assert os.stat(paths["MME_EMB"]).st_mtime_ns == mtime


def test_spec_names_follow_vlmevalkit_rules(suite):
    """A name selects VLMEvalKit's scoring: it must contain the paper benchmark it stands in for."""
    paper = {"MMMU_DEV_VAL", "MMStar", "MME", "OCRBench", "MMBench_DEV_EN", "TextVQA_VAL", "DocVQA_VAL"}
    names = [b.dataset for b in suite.benchmarks]
    assert sorted(names) == sorted(generated.BUILDERS)
    assert {n.removesuffix("_EMB") for n in names} == paper
    assert suite.generated and all(b.md5 is None for b in suite.benchmarks)


def test_mme_has_every_category_with_a_yes_and_a_no_per_image(staged):
    df = _read(staged, "MME_EMB")
    assert set(df["category"]) == MME_CATEGORIES
    for _, group in df.groupby(["category", "image_path"]):
        assert sorted(group["answer"]) == ["No", "Yes"]
    assert all(q.endswith("Please answer yes or no.") for q in df["question"])


def test_ocrbench_uses_its_ten_categories_and_list_answers(staged):
    df = _read(staged, "OCRBench_EMB")
    assert set(df["category"]) == OCRBENCH_CATEGORIES and len(df) == 10
    assert all(isinstance(ast.literal_eval(a), list) for a in df["answer"])


def test_mmbench_rows_carry_their_circular_shifts(staged):
    df = _read(staged, "MMBench_DEV_EN_EMB")
    base = df[df["index"] < 1_000_000]
    for _, row in base.iterrows():
        copies = df[df["index"] % 1_000_000 == row["index"]]
        assert len(copies) == 4
        correct = row[row["answer"]]
        for _, c in copies.iterrows():
            assert c[c["answer"]] == correct  # the same option, moved
            if c["index"] != row["index"]:
                assert str(c["image"]) == str(row["index"])  # image by reference, as MMBench does
        assert len({tuple(c[list("ABCD")]) for _, c in copies.iterrows()}) == 4


def test_textvqa_rows_have_ten_answers(staged):
    df = _read(staged, "TextVQA_VAL_EMB")
    assert all(len(ast.literal_eval(a)) == 10 for a in df["answer"])


def test_multiple_choice_answers_are_not_all_one_letter(staged):
    for name in ("MMStar_EMB", "MMMU_DEV_VAL_EMB", "MMBench_DEV_EN_EMB"):
        assert _read(staged, name)["answer"].nunique() >= 2, name


def test_every_set_loads_through_its_vlmevalkit_class(datasets, staged, suite):
    for b in suite.benchmarks:
        ds = datasets[b.dataset]
        assert type(ds).__name__ == b.dataset_class
        assert len(ds) == len(_read(staged, b.dataset))
        msgs = ds.build_prompt(ds.data.iloc[0])
        images = [m["value"] for m in msgs if m["type"] == "image"]
        texts = [m["value"] for m in msgs if m["type"] == "text"]
        assert images and texts and all(os.path.isfile(p) for p in images), b.dataset
        assert all(str(staged) in p for p in images)  # written under our LMUData, never ~/LMUData


def test_prompts_are_vlmevalkits(datasets):
    mcq = datasets["MMStar_EMB"].build_prompt(datasets["MMStar_EMB"].data.iloc[0])[-1]["value"]
    assert "Options:\nA. " in mcq and mcq.rstrip().endswith("Please select the correct answer from the options above.")
    vqa = datasets["TextVQA_VAL_EMB"].build_prompt(datasets["TextVQA_VAL_EMB"].data.iloc[0])[-1]["value"]
    assert vqa.endswith("Answer the question using a single word or phrase.")
    mmmu = datasets["MMMU_DEV_VAL_EMB"].build_prompt(datasets["MMMU_DEV_VAL_EMB"].data.iloc[0])
    assert [m["type"] for m in mmmu] == ["text", "image", "text"]  # `<image 1>` split in place (interleaved)


def test_unknown_set_is_named():
    with pytest.raises(KeyError, match="no embedded VQA set named 'Nope'"):
        generated.build("Nope")
