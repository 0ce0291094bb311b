"""`vlm2vla robot-trials` (run a scored trial session) and `vlm2vla trials status|export` (the trial log)."""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import typer

from harness.cli.common import fail
from harness.models.hub import ModelLoadError
from harness.paths import results_dir
from harness.policy.base import Policy, Validator
from harness.policy.factory import make_policy
from harness.policy.grammar import GrammarError
from harness.policy.validators import VALIDATORS, ValidatorSetupError, make_validator
from harness.robot.backend import RobotBackend
from harness.robot.backends import make_backend
from harness.robot.console import OperatorConsole, OperatorValidator
from harness.robot.session import OPERATORS, Session, SessionConfig
from harness.robot.triallog import TrialLog, default_csv, default_db
from harness.specs import SpecError, load_model, load_robot, load_task
from harness.specs.model import ModelSpec
from harness.specs.robot import RobotSpec
from harness.specs.task import TaskSpec

trials_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                         help="The trial log (SQLite): progress per task x model, and CSV export for the reports.")

DB_HELP = "Trial database (SQLite, WAL). Default: results/robot/trials.sqlite."
# Exit status of robot-trials: 0 every trial scored, 1 a failure (hardware, software), 2 a bad argument,
# UNFINISHED the session ended with trials still to run (operator quit, end of input, Ctrl-C): rerun to resume.
UNFINISHED = 3


def _sim(module: str, attr: str):
    """The simulator lives above the robot layer (harness.sim); import it only for --robot sim."""
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as e:
        if e.name and e.name.startswith("harness.sim"):
            fail("--robot sim needs the MuJoCo simulator package harness.sim, which this checkout does not have; "
                 "use --robot dry-run to rehearse without hardware", 2)
        fail(f"the simulator cannot be imported ({e}); install its extra: pip install -e '.[sim]' "
             "(or `make setup-all`)", 2)


def _backend(robot: RobotSpec, task: TaskSpec) -> RobotBackend:
    if robot.backend == "sim":
        return _sim("harness.sim.backend", "SimBackend")(robot, task)
    return make_backend(robot)


def _policy(spec: ModelSpec, backend: RobotBackend, robot: RobotSpec) -> Policy:
    if spec.type == "oracle":
        if robot.backend != "sim":
            fail(f"model {spec.name!r} is the simulator's oracle: it runs only with --robot sim", 2)
        return _sim("harness.sim.oracle", "OraclePolicy")(backend)
    try:
        return make_policy(spec)
    except (NotImplementedError, ValueError, OSError, ModelLoadError, GrammarError) as e:
        fail(f"model {spec.name!r}: {e}", 2)


class _Current:
    """Remembers which policy the session is running, so `--validator self` asks that policy's own model."""

    def __init__(self, policies: dict[str, Policy]):
        self.policies, self.policy = policies, None

    def policy_for(self, name: str) -> Policy:
        self.policy = self.policies[name]
        return self.policy

    def model(self):
        return self.policy.loaded  # type: ignore[union-attr]


def _validator(name: str, console: OperatorConsole, current: _Current) -> Validator:
    if name == "operator":
        return OperatorValidator(console)
    model = None
    if name == "self":
        lacking = [n for n, p in current.policies.items() if getattr(p, "loaded", None) is None]
        if lacking:
            fail(f"--validator self asks the policy's own model; {', '.join(lacking)} has none (use a gemma3 model, "
                 "or --validator none|operator|gemini)", 2)
        model = current.model
    try:
        return make_validator(name, model=model)
    except (NotImplementedError, ValueError, ValidatorSetupError) as e:
        fail(f"--validator {name}: {e}" if not str(e).startswith("--validator") else str(e), 2)


def robot_trials_cmd(
    task: str = typer.Option(..., "--task", help="Task protocol (experiments/tasks/): pickup, pick-place-lift, "
                             "pick-and-place, pickup-multilingual, pickup-ash."),
    model: str = typer.Option(..., "--model", help="Model spec(s) (experiments/models/); several, comma-separated, "
                              "run blind and interleaved on the same schedule (operator sees 'policy A/B')."),
    robot: str = typer.Option("widowx", "--robot", help="Robot config (experiments/robots/): widowx, sim, dry-run."),
    operator: str = typer.Option("human", "--operator", help="human: the operator scores at the prompt; auto: the "
                                 "backend's own success detector scores (sim)."),
    trials: int = typer.Option(None, "--trials", help="Trials per model (default: the task's; indices 0..N-1)."),
    db: Path = typer.Option(None, "--db", help=DB_HELP),
    validator: str = typer.Option("none", "--validator", help="Closed-loop validator after each chunk: "
                                  + ", ".join(VALIDATORS) + " (operator: you answer retry/proceed)."),
    session_seed: int = typer.Option(0, "--session-seed", help="Seeds the blind order and labels (reproducible)."),
    schedule_seed: int = typer.Option(None, "--schedule-seed", help="Scene schedule seed (default: the task's)."),
    out: Path = typer.Option(None, "--out", help="Where trial logs and frames go (default: results/robot)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log every command and envelope verdict."),
):
    """Run a scored trial session: per trial the scene to set up, the instruction, a live line per cycle, then a
    score (s/f/i/k + note) committed at once to the trial log. Rerunning the same command resumes at the first
    unscored trial. Ctrl-C puts the arm in its sleep pose and asks whether to quit. Exit status: 0 every trial
    scored, 1 failure, 2 bad argument, 3 the session ended with trials still to run (quit, end of input, Ctrl-C)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if operator not in OPERATORS:
        fail(f"--operator {operator!r}: choose one of {', '.join(OPERATORS)}", 2)
    names = [m.strip() for m in model.split(",") if m.strip()]
    if not names or len(set(names)) != len(names):
        fail(f"--model {model!r}: give one or more distinct model names, comma-separated", 2)
    try:
        task_spec, robot_spec = load_task(task), load_robot(robot)
        model_specs = [load_model(m) for m in names]
    except SpecError as e:
        fail(str(e), 2)
    console = OperatorConsole()
    current = _Current({})
    judge = None if validator == "self" else _validator(validator, console, current)  # a missing key fails early
    backend = _backend(robot_spec, task_spec)
    current.policies = {s.name: _policy(s, backend, robot_spec) for s in model_specs}  # before anything moves
    judge = judge or _validator(validator, console, current)
    try:
        cfg = SessionConfig(task_spec, robot_spec, names, operator, trials, session_seed, schedule_seed, validator,
                            out if out is not None else results_dir() / "robot")
        with TrialLog(db if db is not None else default_db()) as log:
            session = Session(cfg, backend, current.policy_for, judge, log, console)
            summary = session.run()
    except typer.Exit:
        raise
    except (ValueError, RuntimeError) as e:  # bad arguments (2); hardware or software missing/failing (1)
        fail(str(e), 2 if isinstance(e, ValueError) else 1)
    console.say(f"   trial log: {db if db is not None else default_db()} (session {summary.session_id})")
    if summary.remaining:
        raise typer.Exit(UNFINISHED)


@trials_app.command("status")
def status_cmd(db: Path = typer.Option(None, "--db", help=DB_HELP)):
    """Progress per task x model x schedule seed: scored / planned, outcomes, success rate."""
    path = db if db is not None else default_db()
    if not path.exists():
        fail(f"no trial log at {path}; run `vlm2vla robot-trials ...` first or pass --db", 2)
    try:
        with TrialLog(path) as log:
            rows = log.progress()
    except RuntimeError as e:
        fail(str(e), 2)
    header = f"{'task':<22}{'model':<16}{'seed':>6}{'scored':>10}{'success':>9}{'failure':>9}{'skip':>6}" \
             f"{'invalid':>9}{'rate':>8}"
    typer.echo(header)
    for p in rows:
        rate = "-" if p.success_rate is None else f"{100 * p.success_rate:.0f}%"
        typer.echo(f"{p.task:<22}{p.model:<16}{p.schedule_seed:>6}{f'{p.scored}/{p.planned}':>10}{p.success:>9}"
                   f"{p.failure:>9}{p.skip:>6}{p.invalid:>9}{rate:>8}")
    if not rows:
        typer.echo("(no sessions yet)")


@trials_app.command("export")
def export_cmd(db: Path = typer.Option(None, "--db", help=DB_HELP),
               out: Path = typer.Option(None, "--out", help="CSV path (default: results/robot/trials.csv).")):
    """Write every recorded trial as CSV (harness.records.TrialRow columns) for the reports."""
    path = db if db is not None else default_db()
    if not path.exists():
        fail(f"no trial log at {path}; run `vlm2vla robot-trials ...` first or pass --db", 2)
    try:
        with TrialLog(path) as log:
            written = log.export_csv(out if out is not None else default_csv())
            n = len(log.rows())
    except RuntimeError as e:
        fail(str(e), 2)
    typer.echo(f"{n} trial row(s) -> {written}")
