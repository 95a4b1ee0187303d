"""The typer application every command module registers on."""

from typing import Annotated

import typer

app = typer.Typer(
    name="ablate",
    help="Ablation studies of JEDI (latent end-to-end diffusion world model) on Atari100k, "
    "tracked in MLflow and orchestrated by Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# A flag takes no value: an empty metavar keeps typer from labelling it <bool> in the help as if it took one.
FLAG = ""

# Options that several commands share, spelt once.
TrackingUriOption = Annotated[
    str | None,
    typer.Option(
        help="MLflow tracking URI. \\[default: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db here]",
        show_default=False,
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        show_default=False,
        help="Override a config field on top of the budget and variant (repeatable), "
        "e.g. --set world_model.stop_gradient=both.",
    ),
]
