"""`ablate train`: one untracked JEDI run of one game and seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ablate.budgets import BUDGETS
from ablate.cli.app import FLAG, CliCommand, SetOption, app
from ablate.cli.render import result_line
from ablate.config import budget_caveat, parse_set_options, resolve_config
from ablate.games import resolve_game

_HELP = (
    "Train JEDI on one game and seed, untracked (no MLflow): a progress bar, then result.json in --out.\n\n"
    "Budgets: atari100k (the paper's protocol: 100k agent steps, 100 final evaluation episodes), smoke "
    "(every code path at reduced sizes, minutes on a laptop), test (seconds). --set key=value overrides any "
    "config field on top of the budget (keys: `ablate variants show jedi`). Interrupted, the run keeps its last "
    "checkpoint (one per epoch); run the same command with --resume to continue it.\n\n"
    "Example: ablate train --game catch --budget smoke --out runs/catch-smoke"
)


@app.command("train", cls=CliCommand, help=_HELP)
def train(
    game: Annotated[str, typer.Option(help="A game name (Pong, ALE/Pong-v5, pong) or the sanity game catch.")],
    seed: Annotated[int, typer.Option(help="Seed of the environment, the networks and the replay sampling.")] = 0,
    budget: Annotated[str, typer.Option(help=f"Schedule and sizes preset: {', '.join(BUDGETS)}.")] = "smoke",
    set_: SetOption = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu, cuda or cuda:N.")] = "auto",
    out: Annotated[
        Path | None, typer.Option(help="Output directory (default runs/train/GAME-seedS-BUDGET).", show_default=False)
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", metavar=FLAG, help="Continue the run in --out from its last checkpoint.")
    ] = False,
) -> None:
    from ablate.jedi.trainer import TrainingError  # torch loads only once the command line has parsed
    from ablate.jedi.trainer import train as train_run

    game = resolve_game(game)
    config = resolve_config(budget, parse_set_options(set_))
    out_dir = out or Path("runs") / "train" / f"{game}-seed{seed}-{budget}"
    try:
        result = train_run(config, game, seed, out_dir, device=device, resume=resume)
    except TrainingError as err:  # the run's own failure, with its reason: one line, not a traceback
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result.to_dict() | {"eval_returns": f"{len(result.eval_returns)} episodes"}, indent=2))
    typer.echo(result_line(game, result.mean_return, len(result.eval_returns), result.hns, budget_caveat(config)))
    typer.echo(f"result: {out_dir / 'result.json'}")
