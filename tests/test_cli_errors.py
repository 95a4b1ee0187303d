"""Every command-line mistake, through the installed `ablate` script: one `error:` line, exit code 2, no traceback.

typer now parses with its own copy of click, so a handler that catches `click.ClickException` silently stops
matching on a dependency update and every typo became a 40-line traceback with exit code 1. These run the real
entry point (the console script pip installed), in an empty working directory that must stay empty.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import ABLATE

import ablate.cli.main as cli_main
from ablate.cli.main import main


def ablate(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert ABLATE is not None, "the `ablate` console script is not installed (pip install -e .)"
    env = {key: value for key, value in os.environ.items() if key not in ("MLFLOW_TRACKING_URI", "ABLATE_VARIANTS_DIR")}
    return subprocess.run(
        [ABLATE, *args], cwd=cwd, env=env | {"COLUMNS": "100"}, capture_output=True, text=True, timeout=60
    )


# (arguments, a fragment the one line must contain: the offending name, or typer's suggestion)
MISSING_ARGUMENT = [
    (["run"], "Missing argument 'VARIANT...'"),
    (["score"], "Missing argument 'FILE_OR_BASELINE'"),
    (["variants", "show"], "Missing argument 'NAME'"),
    (["study", "run"], "Missing argument 'NAME'"),
    (["study", "show"], "Missing argument 'NAME'"),
    (["study", "status"], "Missing argument 'NAME'"),
    (["study", "dashboard"], "Missing argument 'NAME'"),
    (["study", "report"], "Missing argument 'NAME'"),
]
MISSING_OPTION = [
    (["run", "jedi"], "Missing option '--games'"),
    (["train"], "Missing option '--game'"),
    (["train", "--seed", "1"], "Missing option '--game'"),
]
UNKNOWN_OPTION = [  # the fragment is typer's did-you-mean where it has one
    (["run", "jedi", "--game", "catch"], "--games"),
    (["train", "--games", "catch"], "--game"),
    (["score", "diamond", "--jsn"], "--json"),
    (["games", "--bogus"], "--bogus"),
    (["variants", "--bogus"], "--bogus"),
    (["variants", "show", "jedi", "--budgt", "smoke"], "--budget"),
    (["study", "run", "latent-dim", "--worker", "2"], "--workers"),
    (["study", "list", "--bogus"], "--bogus"),
    (["ui", "--prt", "5000"], "--port"),
    (["report", "--baselin", "jedi"], "--baseline"),
    (["--bogus"], "--bogus"),
]
BAD_VALUE = [
    (["run", "jedi", "--games", "catch", "--seeds", "abc"], "--seeds"),
    (["run", "jedi", "--games", "catch", "--jobs", "1.5"], "--jobs"),
    (["train", "--game", "catch", "--seed", "abc"], "--seed"),
    (["score", "diamond", "--reps", "abc"], "--reps"),
    (["study", "run", "latent-dim", "--workers", "abc"], "--workers"),
    (["study", "dashboard", "latent-dim", "--port", "abc"], "--port"),
    (["ui", "--port", "abc"], "--port"),
    (["report", "--reps", "abc"], "--reps"),
    (["study", "report", "latent-dim", "--seed", "x"], "--seed"),
    (["run", "jedi", "--games"], "--games"),  # an option without its value
]
UNKNOWN_COMMAND = [
    (["nosuchcommand"], "nosuchcommand"),
    (["scor", "diamond"], "Did you mean 'score'?"),
    (["study", "nosuch"], "nosuch"),
    (["study", "lst"], "Did you mean 'list'?"),
    (["variants", "nosuch"], "nosuch"),
    (["variants", "shwo", "jedi"], "Did you mean 'show'?"),
]
EXTRA_ARGUMENT = [
    (["games", "pong", "breakout"], "breakout"),
    (["study", "list", "extra"], "extra"),
    (["ui", "extra"], "extra"),
    (["score", "diamond", "atari100k"], "atari100k"),
]
CASES = [
    pytest.param(args, fragment, id=f"{kind}:{' '.join(args)}")
    for kind, cases in [
        ("missing-argument", MISSING_ARGUMENT),
        ("missing-option", MISSING_OPTION),
        ("unknown-option", UNKNOWN_OPTION),
        ("bad-value", BAD_VALUE),
        ("unknown-command", UNKNOWN_COMMAND),
        ("extra-argument", EXTRA_ARGUMENT),
    ]
    for args, fragment in cases
]


@pytest.mark.parametrize(("args", "fragment"), CASES)
def test_a_command_line_mistake_is_one_error_line_and_exit_code_2(
    args: list[str], fragment: str, tmp_path: Path
) -> None:
    done = ablate(args, tmp_path)
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert fragment in lines[0]
    assert "(see `ablate " in lines[0]  # where to look for the right usage
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []  # failed before opening any store (no mlflow.db, optuna.db, runs/)


def test_the_error_names_the_help_of_the_command_that_was_mistyped(tmp_path: Path) -> None:
    assert (
        ablate(["study", "run", "latent-dim", "--worker", "2"], tmp_path)
        .stderr.rstrip()
        .endswith("(see `ablate study run --help`)")
    )
    assert ablate(["nosuchcommand"], tmp_path).stderr.rstrip().endswith("(see `ablate --help`)")
    # click's parser gives this one no context: the command path comes from the arguments
    assert (
        ablate(["study", "run", "latent-dim", "--workers"], tmp_path)
        .stderr.rstrip()
        .endswith("(see `ablate study run --help`)")
    )


def test_the_projects_own_usage_error_stays_one_line_and_exit_code_2(tmp_path: Path) -> None:
    done = ablate(["games", "nosuchgame"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("error: unknown game or set 'nosuchgame'")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--help"],
        ["run", "--help"],
        ["train", "--help"],
        ["games", "--help"],
        ["score", "--help"],
        ["variants", "--help"],
        ["variants", "show", "--help"],
        ["study"],
        ["study", "--help"],
        ["study", "run", "--help"],
        ["study", "status", "--help"],
        ["ui", "--help"],
        ["report", "--help"],
        ["study", "report", "--help"],
    ],
    ids=lambda args: " ".join(args) or "no-arguments",
)
def test_help_and_a_bare_group_show_the_help_and_exit_0(args: list[str], tmp_path: Path) -> None:
    done = ablate(args, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Usage: ablate" in done.stdout and done.stderr == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "flags"),
    [
        (["run"], ["--resume", "--save-checkpoints", "--help"]),
        (["train"], ["--resume", "--help"]),
        ([], ["--help"]),
        (["study"], ["--help"]),
        (["study", "run"], ["--help"]),
        (["variants", "show"], ["--help"]),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_flag_is_shown_without_a_value_label(args: list[str], flags: list[str], tmp_path: Path) -> None:
    rows = ablate([*args, "--help"], tmp_path).stdout.splitlines()
    for flag in flags:
        (row,) = [row for row in rows if row.startswith("│") and row[1:].lstrip(" *").startswith(f"{flag} ")]
        assert not row.split(flag, 1)[1].split()[0].startswith("<"), row  # the help text follows, no <bool>


def test_parsing_loads_no_torch_mlflow_or_optuna() -> None:
    """The command modules import their heavy libraries inside the commands, so a mistake is reported at once."""
    code = "import sys, ablate.cli.main; print(sorted({'torch', 'mlflow', 'optuna', 'scipy'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def _app_with_a_prompt() -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def ask(name: str = typer.Option(..., prompt=True)) -> None:
        typer.echo(name)

    return app


def test_eof_at_a_prompt_is_one_error_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_main, "app", _app_with_a_prompt())
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # EOF at once
    assert main([]) == 2
    captured = capsys.readouterr()
    assert [line for line in captured.err.splitlines() if line.strip()] == ["error: aborted"]
    assert "Traceback" not in captured.out + captured.err


def test_ctrl_c_is_exit_code_130(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_main, "app", interrupted)
    assert main([]) == 130
    assert capsys.readouterr().err == "interrupted\n"
