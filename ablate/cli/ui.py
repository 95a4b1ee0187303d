"""`ablate ui`: the MLflow UI on the same store `ablate run` writes to."""

from __future__ import annotations

from typing import Annotated

import typer

from ablate.cli.app import TrackingUriOption, app

_HELP = (
    "Start the MLflow UI on the tracking store at 127.0.0.1 and print its address; Ctrl-C stops it.\n\n"
    "Each variant is a parent run with the HNS aggregates; expand it for the per-game, per-seed runs. "
    "Select parents and Compare to set variants side by side."
)


@app.command("ui", help=_HELP)
def ui(
    tracking_uri: TrackingUriOption = None,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on. \\[default: a free one]", show_default=False)
    ] = None,
) -> int:
    from ablate.tracking import serve_ui  # MLflow loads only once the command line has parsed

    return serve_ui(tracking_uri, port, on_ready=lambda url: typer.echo(f"MLflow UI: {url}  (Ctrl-C to stop)"))
