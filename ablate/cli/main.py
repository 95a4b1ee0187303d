"""The `ablate` command line: each command parses, calls one library function and renders the result."""

from __future__ import annotations

import sys
from typing import Protocol, cast

import typer

# Each command module registers its commands on `app` when imported.
from ablate.cli import (  # noqa: F401
    games,
    report,
    run,
    score,
    study,
    train,
    ui,
    variants,
)
from ablate.cli.app import app
from ablate.errors import UsageError, is_disk_full
from ablate.stopping import sigterm_as_ctrl_c


def _click_classes(name: str, typer_class: type[Exception]) -> tuple[type[Exception], ...]:
    """The exception class `name` of every click the parser may raise from: the copy of click that recent typers ship
    (`typer_class` is one of its public exceptions, e.g. typer.BadParameter, whose bases are that
    copy's classes) and click itself where installed (older typers parse with it)."""
    classes = {cls for cls in typer_class.__mro__ if cls.__name__ == name and issubclass(cls, Exception)}
    try:
        import click.exceptions
    except ImportError:
        pass
    else:
        classes.add(getattr(click.exceptions, name))
    return tuple(classes)


_CLICK_ERRORS = _click_classes("ClickException", typer.BadParameter)
_ABORTS = _click_classes("Abort", typer.Abort)


class _ClickError(Protocol):
    """The ClickException of either copy of click (typer's or click's own): they share no base that declares it."""

    def format_message(self) -> str: ...


def _message(err: Exception) -> str:
    """The message of one of _CLICK_ERRORS, as click words it."""
    return cast(_ClickError, err).format_message()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _command_path(argv: list[str]) -> str:
    """`ablate study run` for `study run NAME --workers`: the (sub)commands that argv names before anything else."""
    path = ["ablate"]
    command: object = typer.main.get_command(app)  # a group, whose subcommands are its `commands`, or a command
    for arg in argv:
        command = getattr(command, "commands", {}).get(arg)
        if command is None:
            break
        path.append(arg)
    return " ".join(path)


def _parser_error(err: Exception, argv: list[str]) -> str:
    """click's message as one line, with its "did you mean" part, and where to look for the right usage."""
    message = _one_line(_message(err))
    ctx = getattr(err, "ctx", None)  # absent from some errors of click's parser, e.g. an option without its value
    command = ctx.command_path if ctx is not None else _command_path(argv)
    return f"{message.removesuffix('.')} (see `{command} --help`)"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input becomes a one-line error and exit code 2, never a traceback."""
    try:
        code = app(args=argv, prog_name="ablate", standalone_mode=False)
    except UsageError as err:
        typer.echo(f"error: {err}", err=True)
        return 2
    except _CLICK_ERRORS as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # `ablate`, `ablate study`: the help, as with --help
            if help_text := _message(err):  # empty when typer has already printed it with rich
                typer.echo(help_text)
            return 0
        typer.echo(f"error: {_parser_error(err, sys.argv[1:] if argv is None else argv)}", err=True)
        return 2
    except _ABORTS as err:  # a prompt's EOF (or Ctrl-C, which click turns into Abort there)
        if isinstance(err.__context__, KeyboardInterrupt):
            typer.echo("interrupted", err=True)
            return 130
        typer.echo("error: aborted", err=True)
        return 2
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    except Exception as err:
        if not is_disk_full(err):
            raise  # a bug: its traceback is what a report needs
        typer.echo(
            f"error: no space left on device ({_one_line(str(err)).split(' [SQL')[0]}); free space and "
            "run the same command with --resume",
            err=True,
        )
        return 1
    return code if isinstance(code, int) else 0


def entry() -> None:
    sigterm_as_ctrl_c()  # timeout, systemd, docker and Slurm stop a command as a user's Ctrl-C does
    sys.exit(main())
