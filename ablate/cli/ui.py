"""`ablate ui`: the MLflow UI on the same store `ablate run` writes to."""

from __future__ import annotations

from typing import Annotated

import typer

from ablate.cli.app import CliCommand, TrackingUriOption, app

_HELP = (
    "Start the MLflow UI on the tracking store at 127.0.0.1 and print the address of the experiment's runs table once "
    "it answers; Ctrl-C stops it.\n\n"
    "Each variant is a parent run with its score, budget and description first; expand it for the per-game, "
    "per-seed runs. Select parents and Compare to set variants side by side. A second `ablate ui` on the same store "
    "names the one already serving it. On a tracking server (an http URI) nothing starts: it prints the runs table "
    "that server already serves."
)


@app.command("ui", cls=CliCommand, help=_HELP)
def ui(
    tracking_uri: TrackingUriOption = None,
    experiment: Annotated[str, typer.Option(help="MLflow experiment whose runs table opens.")] = "ablate",
    port: Annotated[
        int | None, typer.Option(help="Port to serve on, 1 to 65535. \\[default: a free one]", show_default=False)
    ] = None,
) -> int:
    from ablate.ui_server import serve_ui  # MLflow loads only once the command line has parsed

    return serve_ui(
        tracking_uri,
        port,
        on_ready=lambda url: typer.echo(f"MLflow UI: {url}  (Ctrl-C to stop)"),
        experiment=experiment,
    )
