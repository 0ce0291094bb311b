"""`vlm2vla models ...` and `vlm2vla actions least-likely` on the embedded tiny model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from tests.dlan_fixture import write_dlan


@pytest.fixture(scope="module")
def dlan(tmp_path_factory):
    return write_dlan(tmp_path_factory.mktemp("dlan"), episodes=1)


def test_generate_on_an_example_and_refuse_unparseable_actions(dlan):
    runner = CliRunner()
    result = runner.invoke(app, ["models", "generate", "--model", "tiny", "--data", str(dlan), "--stage", "plan",
                                 "--max-new-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert "example:   ep000/plan/0" in result.output and "generated:" in result.output
    result = runner.invoke(app, ["models", "generate", "--model", "tiny", "--data", str(dlan), "--max-new-tokens", "4"])
    assert result.exit_code == 2 and "does not parse" in result.output  # an untrained model writes no actions
    result = runner.invoke(app, ["models", "generate", "--model", "tiny", "--data", str(dlan), "--example", "nope"])
    assert result.exit_code == 2 and "no 'action' example nope" in result.output


def test_build_and_least_likely_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_CACHE", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["models", "build", "tiny"])
    assert result.exit_code == 0 and str(tmp_path / "tiny") in result.output
    out = tmp_path / "tokens.json"
    result = runner.invoke(app, ["actions", "least-likely", "--model", "tiny", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text())["ids"]) == 10 and (tmp_path / "least-likely").is_dir()
    assert runner.invoke(app, ["models", "build", "nothing"]).exit_code == 2


def test_actions_reports_the_parse_rate_of_every_example_and_can_require_one(dlan):
    runner = CliRunner()
    args = ["models", "actions", "--model", "tiny", "--data", str(dlan), "--split", "train", "--limit", "2",
            "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tiny on train actions (verbalized): parsed 0/2 (0%)" in result.output  # untrained: reported, not failed
    assert "(a model that never moves:" in result.output and "NOT PARSED" in result.output
    result = runner.invoke(app, [*args, "--require-parse-rate", "0.5"])
    assert result.exit_code == 1 and "parse rate 0% is below the required 50%" in result.output
    assert runner.invoke(app, [*args[:-3], "--split", "nope", "--no-progress"]).exit_code == 2
