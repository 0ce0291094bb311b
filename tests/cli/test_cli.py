"""The thin CLI: exit codes and output a script can rely on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from harness.cli.main import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def test_encode_prints_text():
    r = run("actions", "encode", "--repr", "verbalized", "[[0.042, 0.01, -0.035, 0.0]]")
    assert r.exit_code == 0
    assert r.stdout.strip() == "move forward 4.2 cm, move left 1.0 cm, move down 3.5 cm, close gripper"


def test_decode_prints_json_metres():
    r = run("actions", "decode", "--repr", "verbalized", "move forward 4.2 cm, move left 1.0 cm")
    assert r.exit_code == 0
    assert json.loads(r.stdout) == [[0.042, 0.01, 0.0, None]]


def test_decode_failure_exits_2_with_error_on_stderr():
    r = run("actions", "decode", "move sideways 3 cm")
    assert r.exit_code == 2
    assert "unrecognised phrase 'move sideways 3 cm'" in r.stderr
    assert r.stdout == ""


@pytest.mark.parametrize("arg", ["not json", "[]", "[[1, 2]]", "[[0, 0, 0, 3]]"])
def test_bad_chunk_argument_exits_2(arg):
    r = run("actions", "encode", arg)
    assert r.exit_code == 2 and "error:" in r.stderr


def test_least_likely_without_tokens_explains():
    r = run("actions", "encode", "--repr", "least-likely", "[[0.01, 0, 0]]")
    assert r.exit_code == 2 and "vlm2vla actions least-likely" in r.stderr


def test_plan_and_merge():
    assert run("actions", "plan", "[[0.01, 0, -0.04]]").stdout.strip() == "move down and slightly forward"
    r = run("actions", "merge", "[[0.01,0,0,1],[0.01,0,0,1],[0.01,0,0,1],[0,0,0,0]]")
    assert r.stdout.strip() == "move forward 3.0 cm, open gripper; close gripper"


def test_specs_commands():
    assert run("specs", "validate").exit_code == 0
    listing = run("specs", "list").stdout
    assert "gemma3-270m" in listing and "pickup-multilingual" in listing
    r = run("specs", "show", "nope")
    assert r.exit_code == 2 and "no spec named 'nope'" in r.stderr


def test_console_script_is_installed():
    """The `vlm2vla` entry point from pyproject works as a separate process."""
    exe = subprocess.run([sys.executable, "-m", "harness.cli.main", "--help"], capture_output=True, text=True)
    assert exe.returncode == 0 and "actions" in exe.stdout


def test_report_command_writes_reports(tmp_path):
    r = run("report", "--results", str(tmp_path / "none"), "--out", str(tmp_path / "out"))
    assert r.exit_code == 0, r.output
    assert "no data yet (VQA scores)" in r.stdout and "table  tables/success.{md,csv,tex}" in r.stdout
    assert (tmp_path / "out" / "README.md").is_file()
    assert "not built yet" not in run("report", "--help").output
