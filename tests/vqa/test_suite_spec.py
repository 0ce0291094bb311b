"""The VQA suite schema: the fields this issue added are validated with file, key and value in the error."""

from __future__ import annotations

import pytest

from harness.specs import SpecError, load


@pytest.mark.parametrize("body, message", [
    ("benchmarks: [{dataset: X, label: X, md5: abc}]\n", "key 'benchmarks[0].md5': value 'abc'"),
    ("benchmarks: [{dataset: X, label: X, dataset_class: Foo}]\n", "key 'benchmarks[0].dataset_class': value 'Foo'"),
    ("generated: true\nbenchmarks: [{dataset: X, label: X}]\n", "key 'benchmarks[0].dataset_class': value None"),
    ("generated: true\nbenchmarks: [{dataset: X, label: X, dataset_class: OCRBench, md5: "
     "e953d98a987cc6e26ef717b61260b778}]\n", "null in a generated suite"),
    ("benchmarks: [{dataset: X, label: X}, {dataset: X, label: Y}]\n", "each dataset at most once"),
    ("max_new_tokens: 0\nbenchmarks: [{dataset: X, label: X}]\n", "key 'max_new_tokens': value 0"),
])
def test_bad_suite_is_named(experiments_copy, body, message):
    path = experiments_copy / "vqa" / "bad.yaml"
    path.write_text(body)
    with pytest.raises(SpecError) as info:
        load("vqa/bad")
    assert str(path) in str(info.value) and message in str(info.value)


def test_shipped_suites():
    paper, emb = load("vqa/paper"), load("vqa/embedded")
    assert not paper.generated and all(b.md5 for b in paper.benchmarks)
    assert [b.label for b in emb.benchmarks] == [b.label for b in paper.benchmarks]
    assert {b.dataset: b.metric for b in paper.benchmarks}["MME"] == "perception+reasoning"
