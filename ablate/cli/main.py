"""The `ablate` command line: each command parses, calls one library function and renders the result."""

from __future__ import annotations

import sys

import click
import typer

# Each command module registers its commands on `app` when imported.
from ablate.cli import (  # noqa: F401
    games,
    run,
    score,
    study,
    train,
    ui,
    variants,
)
from ablate.cli.app import app
from ablate.errors import UsageError


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input becomes a one-line error and exit code 2, never a traceback."""
    try:
        code = app(args=argv, prog_name="ablate", standalone_mode=False)
    except UsageError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except (click.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(main())
