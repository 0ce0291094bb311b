"""Report fixtures: small result files under fixtures/results, built once per module into a temporary directory."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "results"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(summary, output dir) of one report run over the fixture results."""
    from harness.reports import build_reports

    out = tmp_path_factory.mktemp("reports")
    return build_reports(FIXTURES, out), out


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def pick(rows: list[dict[str, str]], **match: str) -> dict[str, str]:
    found = [r for r in rows if all(r[k] == v for k, v in match.items())]
    assert len(found) == 1, f"{match}: {len(found)} rows"
    return found[0]
