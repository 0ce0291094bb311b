"""`vlm2vla robot-trials` (run a scored trial session) and `vlm2vla trials status|export` (the trial log)."""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from harness.cli.common import fail
from harness.policy.validators import VALIDATORS
from harness.robot.console import OperatorConsole
from harness.robot.factory import SetupError
from harness.robot.session import OPERATORS, Session, SessionConfig
from harness.robot.triallog import TrialLog, default_csv, default_db, default_out, default_pairs_csv
from harness.specs import SpecError, load_model, load_robot, load_task

trials_app = typer.Typer(rich_markup_mode=None, no_args_is_help=True,
                         help="The trial log (SQLite): progress per task x model, and CSV export for the reports.")

DB_HELP = "Trial database (SQLite, WAL). Default: results/robot/trials.sqlite."
# Exit status of robot-trials: 0 every trial scored, 1 a failure (hardware, software), 2 a bad argument,
# UNFINISHED the session ended with trials still to run (operator quit, end of input, Ctrl-C): rerun to resume.
UNFINISHED = 3


def robot_trials_cmd(
    task: str = typer.Option(..., "--task", help="Task protocol (experiments/tasks/): pickup, pick-place-lift, "
                             "pick-and-place, pickup-multilingual, pickup-ash."),
    model: str = typer.Option(..., "--model", help="Model spec(s) (experiments/models/) or a served policy's URL "
                              "(ws://HOST:PORT: `vlm2vla serve`, openpi; http://HOST:PORT: OpenVLA's deploy.py); "
                              "several, comma-separated, run blind and interleaved on the same schedule (operator "
                              "sees 'policy A/B'), e.g. vlm2vla,ws://127.0.0.1:8000."),
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
    skip_model_check: bool = typer.Option(False, "--skip-model-check", help="Start even if a model's answers to "
                                          "the check probe differ from those recorded at training."),
    reference: bool = typer.Option(True, "--reference/--no-reference", help="Show each scene's reference image (the "
                                   "simulator's render of the same schedule entry, written as reference.png in the "
                                   "trial directory) on the scene card; needs the `sim` extra, skipped without it."),
):
    """Run a scored trial session: per trial the scene to set up, the instruction, a live line per cycle, then a
    score (s/f/i/k; after f the progress on the task's rubric; a note) committed at once to the trial log; r at the
    score prompt redoes the previous trial, v voids the session. With several models, the operator says which did
    better on each scene (A / B / tie). Rerunning the same command resumes at the first unscored trial. Ctrl-C puts
    the arm in its sleep pose and asks whether to quit. A served policy that dies, stalls (the spec's timeout_s) or
    answers garbage: the arm goes to its sleep pose, the trial is scored invalid with the reason and the session
    ends; rerun once the server is back. Each model's answers to a fixed probe are checked against those recorded
    at training before the session starts. Exit status: 0 every trial scored, 1 failure, 2 bad argument, 3 the
    session ended with trials still to run (quit, void, end of input, Ctrl-C, a policy server fault)."""
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
    names = [s.name for s in model_specs]  # a URL's spec is named after it (the trial log's model column)
    from harness.sim.factory import reference_renderer, wire_session

    console = OperatorConsole()
    try:
        parts = wire_session(robot_spec, task_spec, model_specs, validator, console,
                             check_models=not skip_model_check)
    except SetupError as e:
        fail(str(e), 2)
    try:
        cfg = SessionConfig(task_spec, robot_spec, names, operator, trials, session_seed, schedule_seed, validator,
                            out if out is not None else default_out())
        with TrialLog(db if db is not None else default_db()) as log:
            session = Session(cfg, parts.backend, parts.current.policy_for, parts.validator, log, console,
                              reference=reference_renderer(task_spec) if reference and _has_sim() else None)
            summary = session.run()
    except typer.Exit:
        raise
    except (ValueError, RuntimeError) as e:  # bad arguments (2); hardware or software missing/failing (1)
        fail(str(e), 2 if isinstance(e, ValueError) else 1)
    console.say(f"   trial log: {db if db is not None else default_db()} (session {summary.session_id})")
    if summary.remaining:
        raise typer.Exit(UNFINISHED)


def _has_sim() -> bool:
    """Whether the simulator (the `sim` extra) is installed, for the reference image of a scene."""
    import importlib.util

    return importlib.util.find_spec("mujoco") is not None


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
               out: Path = typer.Option(None, "--out", help="CSV path (default: results/robot/trials.csv)."),
               pairs_out: Path = typer.Option(None, "--pairs-out", help="Preferences CSV path (default: "
                                              "pairs.csv beside the trials CSV).")):
    """Write every recorded trial as CSV (harness.records.TrialRow columns: outcome, partial-success progress, and
    why a row was superseded) and the blind A/B preferences that count (harness.records.PairRow) for the reports."""
    path = db if db is not None else default_db()
    if not path.exists():
        fail(f"no trial log at {path}; run `vlm2vla robot-trials ...` first or pass --db", 2)
    trials_csv = out if out is not None else default_csv()
    if pairs_out is None:
        pairs_out = default_pairs_csv() if out is None else trials_csv.with_name(
            trials_csv.name.replace("trials", "pairs", 1) if "trials" in trials_csv.name else "pairs.csv")
    try:
        with TrialLog(path) as log:
            written = log.export_csv(trials_csv)
            n = len(log.rows())
            pairs_written = log.export_pairs_csv(pairs_out)
            n_pairs = len(log.export_pair_rows())
    except RuntimeError as e:
        fail(str(e), 2)
    typer.echo(f"{n} trial row(s) -> {written}")
    typer.echo(f"{n_pairs} preference(s) -> {pairs_written}")


@trials_app.command("invalidate")
def invalidate_cmd(session: str = typer.Option(..., "--session", help="The session id (see the end of its run or "
                                                "the trials CSV)."),
                   reason: str = typer.Option(..., "--reason", help="Why its scores must not count (kept with it)."),
                   db: Path = typer.Option(None, "--db", help=DB_HELP)):
    """Mark a whole session invalid after the fact: its rows are kept, stop counting, and its trials run again."""
    path = db if db is not None else default_db()
    if not path.exists():
        fail(f"no trial log at {path}; pass --db", 2)
    try:
        with TrialLog(path) as log:
            if not log.session_labels(session):
                fail(f"--session {session!r}: no such session in {path}", 2)
            n = log.invalidate_session(session, reason)
    except RuntimeError as e:
        fail(str(e), 2)
    typer.echo(f"session {session} marked invalid ({reason}): {n} score(s) no longer count")
