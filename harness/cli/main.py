"""Entry point of the `vlm2vla` console script."""

from __future__ import annotations

import typer

from harness.cli import (
    actions,
    bench,
    check,
    data,
    mechanism,
    models,
    report,
    robot,
    serve,
    sim,
    specs,
    train,
    vqa,
)

app = typer.Typer(rich_markup_mode=None,
    name="vlm2vla",
    help="VLM2VLA harness: verbalized actions, LoRA training, hierarchical policy, VQA forgetting, robot trials, "
         "reports. Every command takes --help.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(specs.app, name="specs")
app.add_typer(actions.app, name="actions")
app.command("robot-trials")(robot.robot_trials_cmd)
app.add_typer(robot.trials_app, name="trials")
app.command("report")(report.report)
app.add_typer(sim.app, name="sim")
app.add_typer(data.app, name="data")
app.command("train")(train.train_cmd)
app.add_typer(models.app, name="models")
app.add_typer(vqa.app, name="vqa")
app.add_typer(bench.app, name="bench")
app.command("logprob")(mechanism.logprob_cmd)
app.command("forgetting")(mechanism.forgetting_cmd)
app.command("serve")(serve.serve_cmd)
app.command("check-model")(check.check_model_cmd)
bench.app.command("serve")(serve.bench_serve_cmd)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
