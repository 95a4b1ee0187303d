"""`ablate ui`: the MLflow UI on the same store `ablate run` writes to."""

from __future__ import annotations

from typing import Annotated

import typer

from ablate.cli.app import app
from ablate.tracking import serve_ui

_HELP = (
    "Start the MLflow UI on the tracking store at 127.0.0.1 and print its address; Ctrl-C stops it.\n\n"
    "Each variant is a parent run with the HNS aggregates; expand it for the per-game, per-seed runs. "
    "Select parents and Compare to set variants side by side."
)


@app.command("ui", help=_HELP)
def ui(
    tracking_uri: Annotated[str | None, typer.Option(
        help="MLflow tracking URI. \\[default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here]",
        show_default=False)] = None,
    port: Annotated[int | None, typer.Option(help="Port to serve on. \\[default: a free one]",
                                             show_default=False)] = None,
) -> int:
    return serve_ui(tracking_uri, port, on_ready=lambda url: typer.echo(f"MLflow UI: {url}  (Ctrl-C to stop)"))
