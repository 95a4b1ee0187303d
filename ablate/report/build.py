"""`ablate report` and `ablate study report`: the flow from the store to the files and the MLflow run.

Every input is checked, and the store read, before anything is written: a bad option, an unknown experiment,
variant or study, a store without finished runs or a baseline without them is a UsageError and leaves no trace.
Then the comparison is computed once (statistics.py), its tables (tables.py) and plots (plots.py) made once, and
render.py writes them in every format; the same files are logged as a run named `report` (tag
`ablate.kind=report`) in the experiment they summarise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ablate.baselines import BASELINES
from ablate.config import budget_caveat, resolve_config
from ablate.errors import UsageError
from ablate.games import resolve_games
from ablate.report import collect, plots, statistics, tables
from ablate.report.collect import Collection
from ablate.report.render import Report, Section, write
from ablate.runner import directory_name
from ablate.studies import TAG_STUDY
from ablate.tracking import TAG_BUDGET, TAG_GAMES, TAG_KIND, Tracker, retry_locked

KIND = "report"
DEFAULT_BASELINE = "jedi"
REPORTS = Path("reports")  # default --out: reports/EXPERIMENT, reports/studies/STUDY


@dataclass
class Options:
    """What both reports share, unvalidated."""

    tracking_uri: str | None = None
    published: str | None = None  # comma-separated baselines, or "none"; None: all five
    games: str | None = None  # None: every game of the runs
    out: Path | None = None
    reps: int = 50_000
    seed: int = 0


@dataclass
class VariantsRequest:
    variants: list[str]
    experiment: str = "ablate"
    baseline: str | None = None
    budget: str | None = None
    options: Options = field(default_factory=Options)


@dataclass
class StudyRequest:
    study: str
    baseline: str | None = None  # a trial number
    options: Options = field(default_factory=Options)


@dataclass
class ReportResult:
    report: Report
    files: list[Path]
    run_id: str
    tracking_uri: str


def parse_published(value: str | None) -> list[str]:
    """`--published`: none, or comma-separated names of the shipped baselines (default all)."""
    if value is None:
        return list(BASELINES)
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    if names == ["none"]:
        return []
    for name in names:
        if name not in BASELINES:
            raise UsageError(f"--published: unknown baseline '{name}'; choose from {', '.join(BASELINES)}, or none")
    return list(dict.fromkeys(names))


def _check(options: Options) -> tuple[list[str], set[str] | None]:
    if options.reps < 1:
        raise UsageError(f"--reps must be at least 1, got {options.reps}")
    if options.out is not None and options.out.exists() and not options.out.is_dir():
        raise UsageError(f"--out {options.out} is a file; give a directory")
    games = set(resolve_games(options.games)) if options.games is not None else None
    return parse_published(options.published), games


def _baseline(collection: Collection, key: str | None, what: str, games: set[str] | None) -> str:
    """The label of the baseline entry: `key`'s, else jedi's, else the first with finished runs."""
    finished = [e for e in collection.entries if e.finished_games()]
    if not finished:
        on = f" on {', '.join(sorted(games))}" if games is not None else ""
        raise UsageError(f"{collection.subject} in {collection.tracking_uri} has no finished job runs{on} to report")
    if key is None:
        chosen = next((e for e in finished if e.key == DEFAULT_BASELINE), finished[0])
        return chosen.label
    entry = next((e for e in collection.entries if e.key == key), None)
    if entry is None:
        keys = ", ".join(e.key for e in collection.entries)
        raise UsageError(f"--baseline {key}: {collection.subject} has no {what} {key}; it has: {keys}")
    if entry not in finished:
        raise UsageError(f"--baseline {key}: {what} {key} has no finished job runs in {collection.subject}")
    return entry.label


def _report(
    title: str, collection: Collection, baseline: str, published: list[str], options: Options, entry_kind: str
) -> Report:
    comparison = statistics.compare(collection, baseline, published, reps=options.reps, seed=options.seed)
    colour = plots.colours(comparison.subjects)
    header = [
        f"{collection.subject} in {collection.tracking_uri}, budget {collection.budget}; baseline {baseline}",
        f"95% stratified-bootstrap percentile intervals ({options.reps:,} resamples of the runs within each game, "
        f"seed {options.seed}); generated {time.strftime('%Y-%m-%d %H:%M')}",
    ]
    try:
        caveat = budget_caveat(resolve_config(collection.budget))
    except UsageError:  # a budget this version does not know
        caveat = f"budget '{collection.budget}'"
    if caveat and any(s.published for s in comparison.subjects):
        header.append(f"These runs' scores do not compare with the published baselines' ({caveat}).")
    header += collection.notes + comparison.notes

    aggregates = Section("Aggregates")
    versus = Section(f"Against the baseline, {baseline}")
    for group in comparison.groups:
        aggregates.tables.append(tables.aggregates_table(group, entry_kind))
        aggregates.images += [plots.aggregates_figure(group, colour), plots.profiles_figure(group, colour)]
        if group.improvement:
            versus.tables.append(tables.baseline_table(group, baseline, entry_kind))
            versus.images.append(plots.improvement_figure(group, baseline, colour))
    aggregates.notes += [f"left out: {game} ({why})" for game, why in comparison.left_out.items()]
    if not comparison.groups:
        aggregates.notes.append("no game has finished runs of every compared entry, so there is nothing to aggregate")
    aggregates.notes += [
        f"{', '.join(group.games)}: no human score, so compared on raw return, apart from HNS"
        for group in comparison.groups
        if group.scale == "return"
    ]
    if not versus.tables:
        versus.notes.append(f"nothing besides {baseline} to compare against it")
    per_game = Section("Per game", [tables.games_table(comparison, entry_kind)])
    curves = plots.curves_figure(comparison, colour)
    per_game.images += [curves] if curves is not None else []
    status = Section("Status", [tables.status_table(collection, entry_kind)])
    return Report(title, header, [status, aggregates, per_game, versus])


def _log(collection: Collection, result: list[Path], name: str, tags: dict[str, str]) -> str:
    """The report's files as the artifacts of a run beside the runs it summarises."""
    tracker = Tracker(collection.tracking_uri, collection.experiment_id)
    run_id = tracker.start_run(name, {TAG_KIND: KIND, TAG_BUDGET: collection.budget, **tags})
    for path in result:
        retry_locked(tracker.client.log_artifact, run_id, str(path))
    tracker.end_run(run_id, "FINISHED")
    return run_id


def _games_tag(collection: Collection) -> str:
    return ",".join(dict.fromkeys(game for e in collection.entries for game, _ in e.jobs))


def report_variants(request: VariantsRequest) -> ReportResult:
    """`ablate report`: the variants' runs in an experiment compared, written to files and logged to MLflow."""
    published, games = _check(request.options)
    if not request.experiment.strip():
        raise UsageError("--experiment must not be empty")
    names = list(request.variants)
    if names and request.baseline is not None and request.baseline not in names:
        names.append(request.baseline)  # the baseline is compared even when only the others are named
    collection = collect.collect_variants(
        request.experiment, request.options.tracking_uri, names, request.budget, games
    )
    baseline = _baseline(collection, request.baseline, "variant", games)
    report = _report(
        f"ablate report: {collection.subject}", collection, baseline, published, request.options, "variant"
    )
    out = request.options.out or REPORTS / directory_name(request.experiment)
    files = write(report, out)
    run_id = _log(collection, files, "report", {TAG_GAMES: _games_tag(collection)})
    return ReportResult(report, files, run_id, collection.tracking_uri)


def report_study(request: StudyRequest) -> ReportResult:
    """`ablate study report`: a study's trials compared, each a column, its swept values in its label."""
    published, games = _check(request.options)
    collection = collect.collect_trials(request.study, request.options.tracking_uri, games)
    baseline = _baseline(collection, request.baseline, "trial", games)
    report = _report(
        f"ablate study report: {collection.subject}", collection, baseline, published, request.options, "trial"
    )
    out = request.options.out or REPORTS / "studies" / directory_name(request.study)
    files = write(report, out)
    run_id = _log(
        collection, files, f"{request.study}/report", {TAG_STUDY: request.study, TAG_GAMES: _games_tag(collection)}
    )
    return ReportResult(report, files, run_id, collection.tracking_uri)
