"""Small helpers every command module uses: errors that exit with a clear message, not a traceback."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `message` to stderr and exit with `code` (1 = failed, 2 = bad input)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)
