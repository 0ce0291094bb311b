"""`BenchResult`: the one result type every benchmark returns, prints and writes."""

from __future__ import annotations

import json

import pytest

from harness.records import BenchResult


def test_report_is_the_table_then_one_line_per_target():
    r = BenchResult("x", ("naive", "fast"), {"n": 3}, ratios={"speedup": 2.0},
                    targets={"speedup >= 1.5x": True, "0 errors": False}, table=("a", "b"))
    assert r.report().splitlines() == ["a", "b", "  target speedup >= 1.5x: met", "  target 0 errors: NOT met"]


def test_json_keeps_metrics_and_ratios_at_the_top_level(tmp_path):
    r = BenchResult("x", ("naive", "fast"), {"n": 3, "seconds": {"naive": 1.0}}, ratios={"speedup": 2.0})
    path = r.write_json(tmp_path / "sub" / "b.json")
    assert json.loads(path.read_text()) == {"bench": "x", "variants": ["naive", "fast"], "n": 3,
                                            "seconds": {"naive": 1.0}, "speedup": 2.0, "targets": {}}
    assert not list(path.parent.glob("*.tmp"))


def test_a_name_in_both_metrics_and_ratios_is_refused():
    with pytest.raises(ValueError, match=r"\['speedup'\] named both"):
        BenchResult("x", ("a", "b"), {"speedup": 1.0}, ratios={"speedup": 2.0})
