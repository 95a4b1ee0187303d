"""`ablate run`: train named variants on a game set over seeds, tracked in MLflow, with a live progress view."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from ablate.cli.app import FLAG, CliCommand, SetOption, TrackingUriOption, app
from ablate.cli.render import score_tables
from ablate.config import budget_caveat
from ablate.jedi.work import format_eta

if TYPE_CHECKING:  # the runner (torch, MLflow) loads only once the command line has parsed
    from ablate.runner import JobProgress, Progress, RunSummary

_HELP = (
    "Train every (variant, game, seed) job and track it in MLflow.\n\n"
    "One parent run per variant (named after it) holds the HNS aggregates with confidence intervals; one child "
    "run per game and seed holds the config as params, per-epoch diagnostics (step = environment steps), the "
    "final mean return and HNS, and the artifacts. Compare variants with `ablate ui` or mlflow.search_runs.\n\n"
    "Exit code 0 only if every job finished. Ctrl-C stops the running jobs (their runs end KILLED, their last "
    "checkpoints stay); the same command with --resume continues them and reuses the finished ones.\n\n"
    "Example: ablate run jedi stopgrad-both --games human-optimal --seeds 3 --jobs 2"
)
_BAR_TOTAL = 1000
_LOSSES = {
    "world_model/loss": "wm loss",
    "reward_end/loss": "rew loss",
    "actor_critic/loss": "ac loss",
    "eval/return": "eval return",
}


class JobsView:
    """One line per running job (epoch, environment steps, last losses) above an overall bar with ETA."""

    def __init__(self, console: Console) -> None:
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
        )
        self.task = self.bar.add_task("starting", total=_BAR_TOTAL, eta="-:--:--")
        self.lines: list[JobProgress] = []
        self.live = Live(get_renderable=self.render, console=console, refresh_per_second=4)

    def update(self, progress: Progress) -> None:
        if not self.live.is_started:  # only once the input is valid and jobs start
            self.live.start()
        # A copy: the runner goes on changing `progress` while the live thread renders.
        self.lines = [replace(line) for line in progress.running.values()]
        failed = f", {progress.failed_jobs} failed" if progress.failed_jobs else ""
        state = "stopping jobs" if progress.stopping else f"{progress.ended_jobs}/{progress.total_jobs} jobs done"
        self.bar.update(
            self.task,
            description=state + failed,
            completed=progress.fraction * _BAR_TOTAL,
            eta=format_eta(progress.eta_s()),
        )

    def render(self) -> Group:
        table = Table(box=None, pad_edge=False)
        for column in ("job", "device", "epoch", "env steps", *_LOSSES.values()):
            table.add_column(column, justify="left" if column in ("job", "device") else "right")
        for line in self.lines:
            losses = [f"{line.metrics[key]:.3g}" if key in line.metrics else "-" for key in _LOSSES]
            epoch = f"{line.epoch}/{line.total_epochs} ({line.fraction:.0%})"
            if line.resumed_from:
                epoch += f" (resumed at {line.resumed_from})"
            table.add_row(escape(line.name), line.device, epoch, f"{line.env_steps:,}", *losses)
        return Group(table, self.bar)

    def __enter__(self) -> JobsView:
        return self

    def __exit__(self, *exc: object) -> None:
        started = self.live.is_started
        self.live.stop()
        if started and not self.live.console.is_terminal:
            self.live.console.print()  # a piped view ends without a newline


def render_summary(console: Console, summary: RunSummary) -> None:
    for variant in summary.variants:
        console.print(f"[bold]{escape(variant.variant)}[/]: {variant.status} (parent run {variant.parent_run_id})")
        if variant.report is None:
            console.print("  no job finished, so there is nothing to score")
            continue
        caveat = budget_caveat(variant.outcomes[0].job.config) if variant.outcomes else None
        for table in score_tables(variant.report, f"{variant.variant} ({summary.budget})", caveat):
            console.print(table)
    reused = sum(outcome.reused for v in summary.variants for outcome in v.outcomes)
    if reused:
        console.print(f"{reused} finished job(s) reused from an earlier invocation")
    for outcome in summary.failed:
        console.print(f"[red]FAILED[/] {escape(outcome.job.name)}: {escape(outcome.error or '')}")
    if summary.disk_full:
        console.print(f"[red]stopped[/]: {escape(summary.disk_full)} (the running jobs' runs ended KILLED)")
    if summary.interrupted:
        console.print(
            "[yellow]interrupted[/]: running jobs were stopped (runs KILLED); "
            "run the same command with --resume to continue"
        )
    render_orphans(console, summary)
    console.print(
        f"tracked in {summary.tracking_uri}, experiment '{escape(summary.experiment)}'; browse with `ablate ui`"
    )


def render_orphans(console: Console, summary: RunSummary) -> None:
    """Runs left RUNNING by a dead invocation: what they are and the command that continues them."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from ablate import tracking as t

    parents = {run.info.run_id for run in summary.orphans}
    for run in summary.orphans:
        tags = run.data.tags
        if tags.get(MLFLOW_PARENT_RUN_ID) in parents:
            continue  # said with its parent
        owner = f"pid {tags.get(t.TAG_OWNER_PID)} on {tags.get(t.TAG_OWNER_HOST)}"
        if tags.get(t.TAG_KIND) == "variant":
            hint = (
                f"continue it with `ablate run {tags.get(t.TAG_VARIANT)} --games {tags.get(t.TAG_GAMES)} "
                f"--seed-list {tags.get(t.TAG_SEEDS)} --budget {tags.get(t.TAG_BUDGET)} "
                f"--experiment {summary.experiment} --resume` and the --set options it was started with"
            )
        else:
            hint = "the command that started it continues it with --resume"
        console.print(
            f"[yellow]orphaned[/]: run '{escape(run.info.run_name or '')}' ({run.info.run_id}) is RUNNING "
            f"but its owner, {owner}, is gone; {escape(hint)}"
        )


@app.command("run", cls=CliCommand, help=_HELP)
def run(
    variants: Annotated[
        list[str],
        typer.Argument(
            metavar="VARIANT...", show_default=False, help="Variants to train (`ablate variants` lists them)."
        ),
    ],
    games: Annotated[
        str,
        typer.Option(
            show_default=False,
            help="Game set or comma-separated games and sets: "
            "atari100k, human-optimal, agent-optimal, catch, Pong,Breakout, ...",
        ),
    ],
    seeds: Annotated[
        int | None, typer.Option(help="Number of seeds: 0..N-1. \\[default: 1]", show_default=False)
    ] = None,
    seed_list: Annotated[str | None, typer.Option(help="Explicit seeds instead of --seeds, e.g. 1,2,3.")] = None,
    budget: Annotated[
        str, typer.Option(help="Budget preset: atari100k (the paper's protocol), smoke, test.")
    ] = "smoke",
    set_: SetOption = None,
    jobs: Annotated[
        int,
        typer.Option(
            help="Trainings run at once, each in its own process; spread over the GPUs when there are several."
        ),
    ] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    experiment: Annotated[str, typer.Option(help="MLflow experiment the runs go to.")] = "ablate",
    tracking_uri: TrackingUriOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            metavar=FLAG,
            help="Reuse finished jobs of the same command and continue "
            "interrupted ones from their checkpoints, in their MLflow runs.",
        ),
    ] = False,
    save_checkpoints: Annotated[
        bool, typer.Option("--save-checkpoints", metavar=FLAG, help="Also store each job's final checkpoint in MLflow.")
    ] = False,
    variants_dir: Annotated[
        Path | None,
        typer.Option(
            help="Extra directory of variant TOML files, searched before the shipped ones. "
            "\\[default: $ABLATE_VARIANTS_DIR]",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Where jobs keep checkpoints and logs: OUT/EXPERIMENT/VARIANT/GAME/seedS-HASH/RUN_ID/."),
    ] = Path("runs"),
) -> int:
    from ablate.runner import RunRequest, run_variants

    request = RunRequest(
        variants=variants,
        games=games,
        seeds=seeds,
        seed_list=seed_list,
        budget=budget,
        set_options=set_ or [],
        jobs=jobs,
        device=device,
        experiment=experiment,
        tracking_uri=tracking_uri,
        resume=resume,
        save_checkpoints=save_checkpoints,
        variants_dir=variants_dir,
        out=out,
    )
    console = Console()
    with JobsView(console) as view:
        summary = run_variants(request, on_progress=view.update)
    render_summary(console, summary)
    return summary.exit_code
