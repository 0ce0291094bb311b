"""Entry point of the `vlm2vla` console script."""

from __future__ import annotations

import typer

from harness.cli import actions, specs, vqa
from harness.cli.common import not_built

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
app.add_typer(vqa.app, name="vqa")


def _placeholder(name: str, issue: int, what: str) -> None:
    @app.command(name, help=f"{what} (not built yet: issue {issue}).",
                 context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
    def _cmd(ctx: typer.Context) -> None:
        not_built(what, issue)


for _name, _issue, _what in [
    ("data", 3, "Building the verbalized dataset D_lan from BridgeData V2"),
    ("train", 4, "LoRA / full fine-tuning"),
    ("logprob", 7, "Fig. 3 log-probabilities"),
    ("forgetting", 7, "The forgetting ablation grid"),
    ("robot-trials", 8, "Robot trial protocols"),
    ("trials", 8, "Trial log status and export"),
    ("report", 10, "Regenerating reports from results/"),
    ("bench", 5, "Benchmarks"),
]:
    _placeholder(_name, _issue, _what)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
