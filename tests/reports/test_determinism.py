"""Same inputs => byte-identical outputs: no timestamps, no version strings, no absolute paths."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from harness.reports import build_reports
from tests.reports.conftest import FIXTURES


def _hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_second_run_is_byte_identical_even_elsewhere(built, tmp_path):
    _, first = built
    # the same inputs copied to another place, written to another place
    results = tmp_path / "elsewhere" / "results"
    shutil.copytree(FIXTURES, results)
    second = tmp_path / "out"
    build_reports(results, second)
    a, b = _hashes(first), _hashes(second)
    assert len(a) == 1 + 8 * 3 + 7 * 2  # README + 8 tables x (md, csv, tex) + 7 figures x (png, pdf)
    assert a == b


def test_no_timestamps_or_versions_inside_figures(built):
    _, out = built
    for png in (out / "figures").glob("*.png"):
        data = png.read_bytes()
        assert b"Software" not in data and b"atplotlib" not in data, png
    for pdf in (out / "figures").glob("*.pdf"):
        data = pdf.read_bytes()
        for key in (b"/CreationDate", b"/ModDate", b"/Producer", b"/Creator"):
            assert key not in data, (pdf, key)


def test_rewrite_in_place_removes_stale_outputs(built, tmp_path):
    out = tmp_path / "reports"
    shutil.copytree(built[1], out)
    (out / "tables" / "old-table.md").write_text("left over from an earlier layout")
    (out / "notes.txt").write_text("a user's file outside tables/ and figures/")
    before = _hashes(out)
    empty = tmp_path / "empty-results"
    empty.mkdir()
    build_reports(empty, out)
    after = _hashes(out)
    # figures whose inputs disappeared are removed, not left stale; files outside the managed folders stay
    assert "figures/training.png" in before and "figures/training.png" not in after
    assert "tables/old-table.md" not in after and "notes.txt" in after
    assert after["tables/success.csv"] != before["tables/success.csv"]  # paper rows only now
