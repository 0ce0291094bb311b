"""Table renderings: escaping, missing values, full-precision CSV."""

from __future__ import annotations

import pytest

from harness.reports.table import Column, Table, csv_value, to_csv, to_latex, to_markdown


def _table():
    return Table("t", "Scores & rates", [Column("name", "Name"), Column("rate_pct", "Rate %", "{:.1f}", "r")],
                 [["a_b|c", 12.345678], ["d", None]], ["50% of #1"])


def test_markdown_escapes_pipes_and_marks_missing():
    md = to_markdown(_table())
    assert "| a_b\\|c | 12.3 |" in md and "| d | — |" in md and "|---|---:|" in md
    assert md.startswith("# Scores & rates\n") and "- 50% of #1" in md


def test_csv_keeps_precision_and_leaves_missing_empty():
    assert to_csv(_table()) == "name,rate_pct\na_b|c,12.3457\nd,\n"
    assert csv_value(-0.0) == "0" and csv_value(float("inf")) == "inf" and csv_value(True) == "true"


def test_latex_is_booktabs_and_escaped():
    tex = to_latex(_table())
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert r"a\_b|c & 12.3 \\" in tex and r"d & --- \\" in tex
    assert r"\caption{Scores \& rates. 50\% of \#1}" in tex and r"\label{tab:t}" in tex


def test_row_width_is_checked():
    with pytest.raises(ValueError, match="table t: row"):
        Table("t", "x", [Column("a", "A")], [[1, 2]])
