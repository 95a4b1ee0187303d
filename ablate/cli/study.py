"""`ablate study`: Optuna-orchestrated ablation studies whose trials are tracked in MLflow like `ablate run`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as Bar
from rich.table import Table

from ablate.cli.app import CliCommand, CliGroup, TrackingUriOption, app
from ablate.cli.report import OUT_HELP, GamesOption, PublishedOption, RepsOption, SeedOption, render_result

if TYPE_CHECKING:  # ablate.studies (Optuna, torch, MLflow) loads only once the command line has parsed
    from ablate.studies import StudyDefinition, StudyStatus, StudySummary, TrialRow

_HELP = (
    "Ablation studies: sweep config keys of a base variant with Optuna, each trial tracked in MLflow.\n\n"
    "A study is a TOML file in studies/ (the working directory's first, then the repository's): description, "
    "variant, games, seeds, budget, objective and direction, search (Optuna's sampler: grid, tpe, random, "
    "bruteforce), pruner (none, median, hyperband), n_trials and a \\[space] table of dotted config keys. "
    "Each trial is an MLflow parent run (tag ablate.kind=trial) whose child runs are its (game, seed) jobs, "
    "as `ablate run` makes them."
)
_STORAGE_HELP = (
    "Optuna storage, any SQLAlchemy URL (PostgreSQL for several machines). \\[default: sqlite:///optuna.db here]"
)
_RUN_HELP = (
    "Create or join the study and run trials until its trial count (a total over all workers and machines) is "
    "reached or its grid is done.\n\n"
    "--workers K runs K worker processes on this machine that share the storage; the same command on other "
    "machines, against one PostgreSQL --storage and one --tracking-uri server, joins the same study. Running it "
    "again after an interruption continues the study: finished trials stay, the interrupted one resumes. A trial "
    "whose training fails is recorded FAILED with the reason and the study goes on.\n\n"
    "Exit code 0 when no trial is left to start, 130 after Ctrl-C.\n\n"
    "Example: ablate study run latent-dim --workers 2 --budget smoke --games catch --objective mean_return"
)

study_app = typer.Typer(cls=CliGroup, help=_HELP, no_args_is_help=True)
app.add_typer(study_app, name="study")


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _options(options: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in options.items())


def _size(definition: StudyDefinition) -> str:
    return "continuous" if definition.grid_size is None else f"{definition.grid_size} points"


@study_app.command("list", cls=CliCommand, help="List the studies: sampler, trials, objective, games and description.")
def list_() -> None:
    from ablate.studies import list_studies

    table = Table(title="studies", title_justify="left", show_lines=True)
    for column in ("name", "sampler", "space", "trials", "objective", "games", "description"):
        table.add_column(column)
    for d in list_studies():
        games = ",".join(d.games) if len(d.games) <= 4 else f"{len(d.games)} games"
        table.add_row(
            escape(d.name),
            d.sampler,
            _size(d),
            str(d.n_trials),
            f"{d.objective} ({d.direction})",
            escape(games),
            escape(d.description),
        )
    Console().print(table)


@study_app.command(
    "show", cls=CliCommand, help="Print a study's resolved definition, its search space and its grid size."
)
def show(name: Annotated[str, typer.Argument(metavar="NAME", help="The study to show.", show_default=False)]) -> None:
    from ablate.studies import load_study

    d = load_study(name)
    console = Console()
    console.print(f"[bold]{escape(d.name)}[/] ({escape(str(d.path))}): {escape(d.description)}")
    for label, value in [
        ("variant", d.variant),
        ("games", ", ".join(d.games)),
        ("seeds", ",".join(map(str, d.seeds))),
        ("budget", d.budget),
        ("objective", f"{d.objective} ({d.direction})"),
        ("sampler", f"{d.sampler} ({_options({'seed': d.sampler_seed, **d.sampler_options})})"),
        ("pruner", d.pruner + (f" ({_options(d.pruner_options)})" if d.pruner_options else "")),
        ("search space", _size(d)),
        ("trials", str(d.n_trials)),
    ]:
        console.print(f"  {label}: {escape(value)}")
    table = Table(title="search space", title_justify="left")
    table.add_column("config key")
    table.add_column("values")
    for axis in d.space:
        table.add_row(axis.key, escape(axis.describe()))
    console.print(table)


def _trials_table(status: StudyStatus, rows: list[TrialRow] | None = None) -> Table:
    """One row per trial: number, state, one column per parameter, objective, MLflow run, duration, note."""
    rows = status.trials if rows is None else rows
    keys = list(dict.fromkeys(key for row in status.trials for key in row.params))
    table = Table(
        title=f"study {status.name}: {status.objective} ({status.direction}), storage {status.storage}",
        title_justify="left",
    )
    for column in ("#", "state", *keys, "objective", "MLflow run", "duration", "note"):
        table.add_column(
            column, justify="right" if column in ("#", "objective", "duration") else "left", overflow="fold"
        )
    colours = {"COMPLETE": "green", "FAIL": "red", "PRUNED": "yellow", "RUNNING": "cyan"}
    best = status.best.number if status.best else None
    for row in rows:
        state = f"[{colours[row.state]}]{row.state}[/]" if row.state in colours else row.state
        table.add_row(
            str(row.number),
            state,
            *(escape(_value(row.params.get(key, "-"))) for key in keys),
            "-" if row.value is None else _value(row.value),
            row.run_id or "-",
            _duration(row.duration_s),
            escape(row.note),
            style="bold" if row.number == best else None,
        )
    return table


def _best_line(status: StudyStatus) -> str:
    if status.best is None:
        return "best trial: none complete yet"
    params = ", ".join(f"{key}={_value(value)}" for key, value in status.best.params.items())
    return (
        f"best trial: #{status.best.number}, {status.objective} = {_value(status.best.value)} ({escape(params)}), "
        f"MLflow run {status.best.run_id}"
    )


class StudyView:
    """While a study runs: a bar of finished trials against the target, the running and latest trials, the best."""

    def __init__(self, console: Console) -> None:
        self.bar = Bar(TextColumn("trials"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
        self.task = self.bar.add_task("trials", total=None)
        self.status: StudyStatus | None = None
        self.live = Live(get_renderable=self.render, console=console, refresh_per_second=2, transient=True)

    def update(self, status: StudyStatus) -> None:
        if not self.live.is_started:
            self.live.start()
        self.status = status
        self.bar.update(self.task, completed=status.done, total=status.n_trials)

    def render(self) -> Group:
        if self.status is None:
            return Group(self.bar)
        recent = [r for r in self.status.trials if r.state in ("RUNNING", "WAITING")] or self.status.trials[-5:]
        return Group(_trials_table(self.status, recent), _best_line(self.status), self.bar)

    def __enter__(self) -> StudyView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.stop()


def render_summary(console: Console, summary: StudySummary) -> None:
    console.print(_trials_table(summary.status))
    console.print(_best_line(summary.status))
    if summary.interrupted:
        console.print(
            "[yellow]interrupted[/]: the running trials' runs ended KILLED and the trials are queued; "
            f"`ablate study run {escape(summary.definition.name)}` continues the study"
        )
    if summary.running_elsewhere:
        numbers = ", ".join(map(str, summary.running_elsewhere))
        console.print(
            f"[yellow]not complete[/]: trial(s) {numbers} still run in another worker; "
            f"`ablate study status {escape(summary.definition.name)}` follows them"
        )
    if summary.crashed_workers:
        logs = ", ".join(str(log) for log in summary.logs)
        console.print(f"[red]{summary.crashed_workers} worker(s) crashed[/]; see {escape(logs)}")
    console.print(
        f"study run {summary.study_run_id} in {summary.tracking_uri}: the definition, the best trial and "
        "the objective against each parameter; browse with `ablate ui`"
    )


@study_app.command("run", cls=CliCommand, help=_RUN_HELP)
def run(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study (`ablate study list`).", show_default=False)],
    n_trials: Annotated[
        int | None,
        typer.Option(
            help="The study's total trial count, over all workers. \\[default: the file's; for a grid, its size]",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Worker processes on this machine sharing the study; spread over the GPUs when there are several."
        ),
    ] = 1,
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP, show_default=False)] = None,
    budget: Annotated[
        str | None,
        typer.Option(help="Budget preset instead of the file's: atari100k, smoke, test.", show_default=False),
    ] = None,
    games: Annotated[
        str | None, typer.Option(help="Games instead of the file's, e.g. catch or human-optimal.", show_default=False)
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            help="Objective instead of the file's: mean_return, hns:<game> or an aggregate (iqm, sym_hns, ...); "
            "its direction is then maximize, minimize for optimality_gap.",
            show_default=False,
        ),
    ] = None,
    tracking_uri: TrackingUriOption = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> int:
    from ablate.studies import StudyRequest, run_study

    request = StudyRequest(
        name=name,
        n_trials=n_trials,
        workers=workers,
        storage=storage,
        budget=budget,
        games=games,
        objective=objective,
        tracking_uri=tracking_uri,
        device=device,
    )
    console = Console()
    with StudyView(console) as view:
        summary = run_study(request, on_progress=view.update)
    render_summary(console, summary)
    return summary.exit_code


@study_app.command(
    "status",
    cls=CliCommand,
    help="Show a study's trials (number, state, parameters, objective, MLflow run id, "
    "duration) and its best trial, from its storage.",
)
def status(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study's name.", show_default=False)],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP, show_default=False)] = None,
) -> None:
    from ablate.studies import study_status

    result = study_status(name, storage)
    console = Console()
    console.print(_trials_table(result))
    target = f" of {result.n_trials}" if result.n_trials else ""
    console.print(f"{result.done}{target} trials finished; {_best_line(result)}")


@study_app.command(
    "dashboard",
    cls=CliCommand,
    help="Serve optuna-dashboard on the study's storage at 127.0.0.1 (install it with "
    "pip install 'ablate\\[dashboard]'); Ctrl-C stops it.",
)
def dashboard(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study's name.", show_default=False)],
    storage: Annotated[str | None, typer.Option(help=_STORAGE_HELP, show_default=False)] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to serve on. \\[default: a free one]", show_default=False)
    ] = None,
) -> None:
    from ablate.studies import serve_dashboard

    serve_dashboard(name, storage, port, on_ready=lambda url: typer.echo(f"Optuna dashboard: {url}  (Ctrl-C to stop)"))


@study_app.command(
    "report",
    cls=CliCommand,
    help="The report of `ablate report` on a study's trials, each trial a column labelled with its swept values: "
    "status (with `ablate study run` to complete it), aggregates, per-game results, the probability of improvement "
    "and IQM difference against a baseline trial, the published baselines, plots; files in --out, logged as the "
    "run STUDY/report. Reads the MLflow store only.",
)
def report(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The study's name.", show_default=False)],
    tracking_uri: TrackingUriOption = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            help="The trial number the others are compared against. \\[default: the first with finished runs]",
            show_default=False,
        ),
    ] = None,
    published: PublishedOption = None,
    games: GamesOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help=f"{OUT_HELP} \\[default: reports/studies/NAME]",
            show_default=False,
        ),
    ] = None,
    reps: RepsOption = 50_000,
    seed: SeedOption = 0,
) -> None:
    from ablate.report.build import Options, StudyRequest, report_study

    options = Options(tracking_uri, published, games, out, reps, seed)
    render_result(report_study(StudyRequest(name, baseline, options)))
