"""`ablate score`: HNS, aggregates and bootstrap intervals of per-seed returns."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from ablate.baselines import BASELINES
from ablate.cli.app import FLAG, CliCommand, app
from ablate.cli.render import score_tables

_HELP = (
    "Score per-seed final returns: per-game mean return and HNS, then aggregates with 95% CIs.\n\n"
    "Aggregates: mean, median, IQM and optimality gap of HNS over the Atari games given; the Human-Optimal "
    "and Agent-Optimal half means when a whole half is given, their ratio and Sym-HNS when both are; "
    "Har-HNS when all 26 games are. Intervals are stratified-bootstrap percentile intervals (runs resampled "
    "within each game), as rliable computes them.\n\n"
    "Examples: ablate score diamond; ablate score results.json --json"
)


@app.command("score", cls=CliCommand, help=_HELP)
def score(
    source: Annotated[
        str,
        typer.Argument(
            metavar="FILE_OR_BASELINE",
            help="A JSON file mapping game names to lists of per-seed returns, or a published baseline: "
            f"{', '.join(BASELINES)}.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option("--json", metavar=FLAG, help="Print one JSON document (per_game, aggregates) and nothing else."),
    ] = False,
    reps: Annotated[int, typer.Option(help="Bootstrap resamples for the confidence intervals.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed; the same seed gives the same intervals.")] = 0,
) -> None:
    from ablate.scoring import load_scores, score_runs  # numpy and scipy load only once the command line has parsed

    report = score_runs(load_scores(source), reps=reps, seed=seed)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    console = Console()
    for table in score_tables(report, source):
        console.print(table)
    console.print(f"mean return over {len(report.per_game)} games: {report.mean_return:,.1f}")
