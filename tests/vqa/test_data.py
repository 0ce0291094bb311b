"""$LMUData and md5 checks: a clear error naming the file and the fix, before anything runs."""

from __future__ import annotations

import pytest

from harness.specs import load_vqa_suite
from harness.specs.vqa import BenchmarkSpec, VQASuiteSpec
from harness.vqa import data, generated


def _suite(*benchmarks: BenchmarkSpec) -> VQASuiteSpec:
    return VQASuiteSpec(name="mini", benchmarks=list(benchmarks))


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(data.LMUDataError, match=f"LMUData directory {tmp_path / 'nope'} does not exist"):
        data.check(load_vqa_suite("paper"), tmp_path / "nope")


def test_unset_lmudata_is_an_error_not_a_fallback(monkeypatch):
    monkeypatch.delenv("LMUData", raising=False)
    with pytest.raises(data.LMUDataError, match=r"\$LMUData, which is not set"):
        data.lmudata_root(load_vqa_suite("paper"))


def test_missing_tsv_names_the_file_and_how_to_stage_it(tmp_path):
    with pytest.raises(data.LMUDataError) as info:
        data.check(load_vqa_suite("paper"), tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "MMMU_DEV_VAL.tsv") in msg and "copy the file into $LMUData" in msg


def test_md5_mismatch_names_both_sums(tmp_path):
    (tmp_path / "MMStar.tsv").write_text("index\tquestion\n1\tpartial download\n")
    suite = _suite(BenchmarkSpec("MMStar", "MMStar", md5="e1ecd2140806c1b1bbf54b43372efb9e"))
    got = generated.md5_file(tmp_path / "MMStar.tsv")
    with pytest.raises(data.LMUDataError, match=f"has md5 {got} but VLMEvalKit expects e1ecd2140806c1b1bbf54b43372efb9e"):
        data.check(suite, tmp_path)


def test_matching_md5_passes(tmp_path):
    (tmp_path / "Mine.tsv").write_text("index\tquestion\n")
    suite = _suite(BenchmarkSpec("Mine", "Mine", md5=generated.md5_file(tmp_path / "Mine.tsv")))
    assert data.check(suite, tmp_path) == {"Mine": tmp_path / "Mine.tsv"}


def test_paper_md5s_are_vlmevalkits_own():
    from harness.vqa import kit

    for b in load_vqa_suite("paper").benchmarks:
        assert b.md5 == kit.expected_md5(b.dataset), b.dataset


def test_spec_md5_that_disagrees_with_vlmevalkit_is_refused():
    suite = _suite(BenchmarkSpec("MMStar", "MMStar", md5="0" * 32))
    with pytest.raises(data.LMUDataError, match="the installed VLMEvalKit expects e1ecd"):
        data.check_spec_md5(suite, {"MMStar": "e1ecd2140806c1b1bbf54b43372efb9e"}.get)


def test_embedded_suite_must_be_staged(tmp_path, suite):
    with pytest.raises(data.LMUDataError, match="vlm2vla vqa stage-embedded"):
        data.check(suite, tmp_path)
    generated.stage(tmp_path)
    assert set(data.check(suite, tmp_path)) == set(generated.BUILDERS)


def test_vlmevalkit_would_not_download_after_a_passing_check(staged, suite):
    """Our check passes only for files VLMEvalKit's own md5 test accepts (or names it has no md5 for)."""
    from harness.vqa import kit

    for b in suite.benchmarks:
        assert kit.expected_md5(b.dataset) is None  # unknown name: VLMEvalKit reads the file as it is
