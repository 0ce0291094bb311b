"""`vlm2vla serve` refuses an open bind without a token; `vlm2vla bench serve` prints the overhead ratio."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from harness.cli.main import app

pytestmark = pytest.mark.timeout(120)


def test_serve_beyond_loopback_without_token_fails(monkeypatch):
    monkeypatch.delenv("VLM2VLA_SERVE_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--model", "scripted", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 2 and "needs a token" in result.output


def test_bench_serve_prints_the_ratio():
    result = CliRunner().invoke(app, ["bench", "serve", "--model", "scripted", "--cycles", "3"])
    assert result.exit_code == 0, result.output
    assert "640x480 image" in result.output
    assert re.search(r"overhead / cycle +median +[\d.]+ ms = [\d.]+% of the in-process median cycle", result.output)
    assert "served outputs identical to in-process: yes" in result.output
