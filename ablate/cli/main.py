"""The `ablate` command line: each command parses, calls one library function and renders the result."""

from __future__ import annotations

import sys

import click
import typer

from ablate.errors import UsageError

app = typer.Typer(
    name="ablate",
    help="Ablation studies of JEDI (latent end-to-end diffusion world model) on Atari100k, "
    "tracked in MLflow and orchestrated by Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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
