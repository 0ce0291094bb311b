"""Small helpers every command module uses: errors that exit with a clear message, not a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` to stderr and exit with `code` (1 = failed, 2 = bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def not_built(what: str, issue: int) -> NoReturn:
    """A capability that a later issue delivers: say so and exit non-zero (never pretend it ran)."""
    typer.echo(f"vlm2vla: {what} is not built yet (tracked in issue {issue}); nothing was run.", err=True)
    sys.exit(3)
