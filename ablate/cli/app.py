"""The typer application every command module registers on."""

import typer

app = typer.Typer(
    name="ablate",
    help="Ablation studies of JEDI (latent end-to-end diffusion world model) on Atari100k, "
    "tracked in MLflow and orchestrated by Optuna.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
