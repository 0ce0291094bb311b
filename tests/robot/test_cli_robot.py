"""`vlm2vla robot-trials` and `vlm2vla trials`: help, clear errors before anything moves, status and export."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from harness.cli.main import app
from harness.records import TrialRow, read_rows

runner = CliRunner()


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def results(tmp_path, monkeypatch):
    monkeypatch.setenv("VLM2VLA_RESULTS", str(tmp_path))
    return tmp_path


def test_help_explains_the_options():
    r = run("robot-trials", "--help")
    assert r.exit_code == 0
    for opt in ("--task", "--model", "--robot", "--operator", "--trials", "--db", "--validator", "--session-seed"):
        assert opt in r.stdout
    assert run("trials", "--help").exit_code == 0


@pytest.mark.parametrize("args, message", [
    (["--operator", "auto"], "needs a backend with its own success detector"),
    (["--operator", "robot"], "--operator 'robot'"),
    (["--model", "scripted,scripted"], "distinct model names"),
    (["--task", "nope"], "no spec named 'nope'"),
    (["--model", "oracle-x"], "no spec named 'oracle-x'"),
    (["--validator", "psychic"], "unknown validator 'psychic'"),
    (["--trials", "0"], "--trials must be > 0"),
])
def test_bad_arguments_fail_clearly(results, args, message):
    base = {"--task": "pickup", "--model": "scripted", "--robot": "dry-run"}
    extra = dict(zip(args[::2], args[1::2], strict=True))
    argv = [x for kv in {**base, **extra}.items() for x in kv]
    r = run("robot-trials", *argv, "--db", str(results / "t.sqlite"))
    assert r.exit_code == 2, r.output
    assert message in r.stderr


def test_widowx_without_interbotix_is_explained(results, monkeypatch):
    import sys

    for name in ("interbotix_xs_modules", "interbotix_xs_modules.arm", "interbotix_xs_modules.xs_robot.arm"):
        monkeypatch.setitem(sys.modules, name, None)
    r = run("robot-trials", "--task", "pickup", "--model", "scripted", "--robot", "widowx", "--db",
            str(results / "t.sqlite"))
    assert r.exit_code == 1 and "interbotix_xs_modules" in r.stderr and "not on PyPI" in r.stderr


def test_run_status_export(results):
    db = results / "robot" / "trials.sqlite"
    r = run("robot-trials", "--task", "pickup-multilingual", "--model", "scripted", "--robot", "dry-run",
            "--trials", "3", input="s\n\nf\ng\nmissed\nk\n\n")
    assert r.exit_code == 0, r.output
    assert "instruction (es): recoge la zanahoria" in r.stdout and "instruction (zh): 拿起胡萝卜" in r.stdout
    assert db.exists()
    status = run("trials", "status")
    assert status.exit_code == 0
    line = next(x for x in status.stdout.splitlines() if x.startswith("pickup-multilingual"))
    assert line.split() == ["pickup-multilingual", "scripted", "404", "3/3", "1", "1", "1", "0", "50%"]
    exp = run("trials", "export")
    assert exp.exit_code == 0 and "3 trial row(s)" in exp.stdout
    csv_rows = read_rows(results / "robot" / "trials.csv", TrialRow)
    assert [(r.trial_index, r.language, r.outcome) for r in csv_rows] == [(0, "es", "success"), (1, "zh", "failure"),
                                                                         (2, "hi", "skip")]
    assert all(r.parse_failures == 1 and r.cycles == 4 and r.envelope_clipped > 0 for r in csv_rows)
    assert all(r.frames_path.endswith("trial.gif") and r.log_path.endswith("cycles.jsonl") for r in csv_rows)
    assert [r.progress for r in csv_rows] == [100, 50, None]  # success = 100, failure reached "grasped", skip none
    assert "0 preference(s)" in exp.stdout and (results / "robot" / "pairs.csv").exists()


def test_status_without_a_log(results):
    r = run("trials", "status", "--db", str(results / "none.sqlite"))
    assert r.exit_code == 2 and "no trial log" in r.stderr
