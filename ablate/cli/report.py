"""`ablate report`: the finished runs of an experiment compared, as tables, plots and files; it trains nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from ablate.baselines import BASELINES
from ablate.cli.app import CliCommand, TrackingUriOption, app

if TYPE_CHECKING:  # the report (MLflow, numpy, matplotlib) loads only once the command line has parsed
    from ablate.report.build import ReportResult

_HELP = (
    "Report on the finished runs of an experiment, read from the MLflow store (nothing is trained).\n\n"
    "1. Status: per variant and game, the seeds finished, running, failed and missing of those asked for, and the "
    "command that completes each incomplete cell. 2. Aggregates per variant (mean, median, IQM, optimality gap, "
    "the Human-Optimal and Agent-Optimal means, their ratio, Sym-HNS, Har-HNS, as the games allow) with 95% "
    "stratified-bootstrap intervals and the runs per game, over the games every variant has; catch is compared on "
    "raw return. 3. Per variant and game: mean final return with its interval, runs and HNS, the best marked. "
    "4. Against the baseline: probability of improvement and IQM difference. The published baselines are extra "
    "rows; plots: aggregate intervals, performance profiles, probability of improvement, learning curves.\n\n"
    "Writes report.md, report.html (self-contained), report.tex and one CSV per table to --out, and logs them as "
    "a run named `report` (tag ablate.kind=report) in the experiment.\n\n"
    "Example: ablate report jedi stopgrad-both --games human-optimal"
)

BaselineHelp = "The variant the others are compared against. \\[default: jedi when it has runs, else the first]"
PublishedOption = Annotated[
    str | None,
    typer.Option(
        help=f"Published baselines shown as extra rows, comma-separated ({','.join(BASELINES)}), or none. "
        "\\[default: all five]",
        show_default=False,
    ),
]
GamesOption = Annotated[
    str | None,
    typer.Option(
        help="Only these games or sets, e.g. catch,Pong. \\[default: every game of the runs]", show_default=False
    ),
]
OUT_HELP = "Directory of the report's files; an earlier report's files there are replaced."
RepsOption = Annotated[int, typer.Option(help="Bootstrap resamples behind each interval in the tables.")]
SeedOption = Annotated[int, typer.Option(help="Bootstrap seed; the same seed gives the same intervals.")]


def render_result(result: ReportResult) -> None:
    """The terminal summary, then where the files and the MLflow run are."""
    from ablate.report.render import terminal

    console = Console()
    terminal(console, result.report)
    out = result.files[0].parent
    plots = [path.name for path in result.files if path.suffix == ".png"]
    console.print(
        f"wrote {escape(str(out))}/: report.md, report.html, report.tex, "
        f"{sum(path.suffix == '.csv' for path in result.files)} CSV tables and {len(plots)} plots"
    )
    console.print(f"logged as MLflow run {result.run_id} in {escape(result.tracking_uri)}; browse with `ablate ui`")


@app.command("report", cls=CliCommand, help=_HELP)
def report(
    variants: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="VARIANT", show_default=False, help="Variants to report. \\[default: every variant run]"
        ),
    ] = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment the runs are in.")] = "ablate",
    tracking_uri: TrackingUriOption = None,
    baseline: Annotated[str | None, typer.Option(help=BaselineHelp, show_default=False)] = None,
    published: PublishedOption = None,
    games: GamesOption = None,
    budget: Annotated[
        str | None,
        typer.Option(help="The budget of the runs to report, when they are of several.", show_default=False),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help=f"{OUT_HELP} \\[default: reports/EXPERIMENT]", show_default=False)
    ] = None,
    reps: RepsOption = 50_000,
    seed: SeedOption = 0,
) -> None:
    from ablate.report.build import Options, VariantsRequest, report_variants

    options = Options(tracking_uri, published, games, out, reps, seed)
    render_result(report_variants(VariantsRequest(variants or [], experiment, baseline, budget, options)))
