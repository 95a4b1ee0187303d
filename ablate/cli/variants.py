"""`ablate variants`: the registry of named JEDI variants, and one variant's resolved config and size."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ablate.cli.app import CliCommand, CliGroup, app
from ablate.config import Config
from ablate.variants import describe_variant, load_variants

_HELP = (
    "List the variants: name, what it extends, description and its own config overrides.\n\n"
    "A variant is a TOML file in variants/ (or in --variants-dir / $ABLATE_VARIANTS_DIR, searched first): "
    'description = "...", optional extends = "other-variant" (default jedi), and an [overrides] table of '
    'dotted config keys, e.g. "world_model.stop_gradient" = "both".'
)
_VARIANTS_DIR_HELP = "Extra directory of variant TOML files, searched first. \\[default: $ABLATE_VARIANTS_DIR]"

variants_app = typer.Typer(cls=CliGroup, help=_HELP, invoke_without_command=True, no_args_is_help=False)
app.add_typer(variants_app, name="variants")


def _value(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, tuple) and len(value) == 3 else str(value)


_ACTIONS = 18  # the full Atari action set: the most any game has; 3 actions take some 10k parameters off


def _parameters(paper: Config, shown: Config, budget: str) -> str:
    """The agent's trainable parameters per component at the papers' sizes, beside the published total of the agent
    it stands for, and the total at the budget shown when that is another."""
    import torch  # loads only for `show`

    from ablate.jedi.agent import PUBLISHED_PARAMETERS, Agent, parameter_counts

    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        counts = parameter_counts(Agent(paper, _ACTIONS))
        at_budget = parameter_counts(Agent(shown, _ACTIONS))["total"]
    total = counts.pop("total")
    parts = ", ".join(f"{name} {count / 1e6:.2f}M" for name, count in counts.items())
    name, published = PUBLISHED_PARAMETERS[paper.world_model.space]
    line = f"parameters at atari100k ({_ACTIONS} actions): {parts}; total {total / 1e6:.2f}M"
    line += f" ({name}'s published total: {published / 1e6:.1f}M)"
    return line if budget == "atari100k" else f"{line}; at {budget}: {at_budget / 1e6:.2f}M"


@variants_app.callback()
def variants(
    ctx: typer.Context,
    variants_dir: Annotated[Path | None, typer.Option(help=_VARIANTS_DIR_HELP, show_default=False)] = None,
) -> None:
    if ctx.invoked_subcommand is not None:
        ctx.obj = variants_dir  # `ablate variants --variants-dir D show NAME` means D too
        return
    table = Table(title="variants", title_justify="left", show_lines=True)
    for column in ("name", "extends", "description", "overrides"):
        table.add_column(column)
    for name, variant in sorted(load_variants(variants_dir).items()):
        overrides = "\n".join(f"{key} = {_value(value)}" for key, value in variant.overrides.items())
        table.add_row(
            escape(name), escape(variant.extends or "-"), escape(variant.description), escape(overrides or "(none)")
        )
    Console().print(table)


@variants_app.command(
    "show", cls=CliCommand, help="Print a variant's fully resolved config, marking where it differs from jedi."
)
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The variant to show.", show_default=False)],
    budget: Annotated[
        str, typer.Option(help="Budget preset the config is resolved at, as for `ablate run`: atari100k, smoke, test.")
    ] = "smoke",
    variants_dir: Annotated[Path | None, typer.Option(help=_VARIANTS_DIR_HELP, show_default=False)] = None,
) -> None:
    details = describe_variant(name, budget, variants_dir or ctx.obj)
    console = Console()
    variant = details.variant
    console.print(f"[bold]{escape(variant.name)}[/] ({escape(str(variant.path))}): {escape(variant.description)}")
    console.print(f"extends: {escape(variant.extends or '-')}; budget: {budget}; config hash: {details.config.hash()}")
    console.print(
        _parameters(describe_variant(name, "atari100k", variants_dir or ctx.obj).config, details.config, budget)
    )
    table = Table(title=f"resolved config ({len(details.changes)} difference(s) from jedi)", title_justify="left")
    for column in ("key", "value", "jedi"):
        table.add_column(column)
    for key, value in details.config.flat().items():
        changed = key in details.changes
        jedi = escape(_value(details.changes[key][0])) if changed else ""
        table.add_row(key, escape(_value(value)), jedi, style="bold yellow" if changed else None)
    console.print(table)
