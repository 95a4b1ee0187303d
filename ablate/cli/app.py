"""The typer application every command module registers on."""

from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup


class _FlagHelp:
    """`--help` shown as the flag it is, without the `<bool>` label typer gives the help option it makes."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None:
            option.metavar = FLAG
        return option


class CliCommand(_FlagHelp, TyperCommand):
    """Every command's class (`@app.command(..., cls=CliCommand)`)."""


class CliGroup(_FlagHelp, TyperGroup):
    """The class of `ablate` and of its command groups (`typer.Typer(cls=CliGroup)`)."""


app = typer.Typer(
    cls=CliGroup,
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
