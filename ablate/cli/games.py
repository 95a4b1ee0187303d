"""`ablate games`: the game catalogue and its named sets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from ablate.cli.app import CliCommand, app
from ablate.cli.render import games_table
from ablate.games import GAME_SETS, GAMES, lookup_set, resolve_games

_HELP = (
    "List the Atari100k games and named sets with their ALE ids and random/human reference scores.\n\n"
    "human-optimal and agent-optimal are JEDI's split of the 26 games into halves, used by the asymmetry "
    "figures of `ablate score`. Names are case-insensitive.\n\n"
    "Examples: ablate games; ablate games human-optimal; ablate games pong,breakout"
)


@app.command("games", cls=CliCommand, help=_HELP)
def games(
    name: Annotated[
        str | None,
        typer.Argument(
            help="A set (atari100k, human-optimal, agent-optimal), a game (Pong, ALE/Pong-v5, "
            "PongNoFrameskip-v4) or a comma-separated mix. Omit to list every set.",
            metavar="NAME",
            show_default=False,
        ),
    ] = None,
) -> None:
    console = Console()
    if name is None:
        for set_name, members in GAME_SETS.items():
            console.print(games_table(f"{set_name} ({len(members)} games)", members))
            console.print()
        others = [game for game in GAMES if not any(game in members for members in GAME_SETS.values())]
        console.print(games_table("not in any set", others))
        return
    named_set = lookup_set(name)
    if named_set is not None:
        console.print(games_table(f"{named_set} ({len(GAME_SETS[named_set])} games)", GAME_SETS[named_set]))
    else:
        names = resolve_games(name)
        console.print(games_table(f"{name.strip()} ({len(names)} games)", names))
