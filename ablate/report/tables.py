"""The report's tables as plain data: built once from the collection and its comparison, then written in every
format (terminal, Markdown, HTML, LaTeX, CSV) by render.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ablate.cli.render import AGGREGATE_LABELS
from ablate.report.collect import STATES, Collection
from ablate.report.statistics import Comparison, Group
from ablate.scoring import Interval

Cell = str | int | float | Interval | None

_RETURN_LABELS = {"mean": "Mean return", "median": "Median return", "iqm": "IQM return"}
_LOWER_IS_BETTER = ("optimality_gap",)
_NO_BEST = ("asymmetry_ratio",)  # neither end is better: it measures the gap between the halves


@dataclass(frozen=True)
class Column:
    name: str
    digits: int = 3  # decimals of a float or an interval


@dataclass
class Table:
    name: str  # its CSV's file name, without .csv
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    bold: set[tuple[int, int]] = field(default_factory=set)  # (row, column) of the best values
    notes: list[str] = field(default_factory=list)
    brief: list[int] | None = None  # the rows a terminal summary shows (None: all), the others counted in a line


def status_table(collection: Collection, entry_kind: str) -> Table:
    """Per (entry, game): seeds asked for, finished, running, failed, missing, and the command completing it."""
    table = Table(
        "status",
        "Status: seeds finished, running, failed and missing, of those asked for",
        [Column(entry_kind), Column("game"), Column("asked"), *map(Column, STATES), Column("incomplete seeds")]
        + [Column("to complete")],
    )
    for entry in collection.entries:
        games = dict.fromkeys(game for game, _ in entry.jobs)
        for game in games:
            jobs = [job for (g, _), job in entry.jobs.items() if g == game]
            counts = [sum(job.state == state for job in jobs) for state in STATES]
            incomplete = [job for job in jobs if job.state != "finished"]
            seeds = ", ".join(f"{job.seed} ({job.state})" for job in incomplete)
            commands = list(dict.fromkeys(job.command for job in incomplete if job.command))
            if incomplete and not commands:
                commands = ["none: the study does not run a failed or pruned trial again (`ablate study status`)"]
            table.rows.append([entry.label, game, len(jobs), *counts, seeds, "; ".join(commands)])
    table.brief = [i for i, row in enumerate(table.rows) if row[-2]]
    table.notes.append(
        "missing: asked for but never started, stopped (KILLED), or left RUNNING by a process that is gone. "
        "A command continues its runs from their checkpoints and reuses the finished ones; add the --set "
        "options the runs were started with, if any."
    )
    return table


def games_table(comparison: Comparison, entry_kind: str) -> Table:
    """Per (game, subject): runs, mean final return with its interval, and the HNS of that mean; best in bold."""
    table = Table(
        "games",
        "Final return per game: mean over runs with its 95% CI, and its HNS (best entry in bold)",
        [Column("game"), Column(entry_kind), Column("runs"), Column("mean return", 2), Column("HNS", 3)],
    )
    for r in comparison.per_game:
        if r.best:
            table.bold.add((len(table.rows), 3))
        table.rows.append([r.game, r.subject, r.runs, r.mean_return, r.hns])
    table.notes.append("games without human scores (catch) have no HNS and are compared on raw return")
    return table


def _runs_per_game(counts: Sequence[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


def _games(group: Group) -> str:
    return ", ".join(group.games) if len(group.games) <= 6 else f"{len(group.games)} games"


def aggregate_names(group: Group) -> list[str]:
    """The aggregates any subject of the group has, in scoring's order."""
    return list(dict.fromkeys(name for aggregates in group.aggregates.values() for name in aggregates))


def aggregate_label(scale: str, name: str) -> str:
    return (AGGREGATE_LABELS if scale == "hns" else _RETURN_LABELS).get(name, name)


def aggregates_table(group: Group, entry_kind: str) -> Table:
    """Per subject: every aggregate of the group's scale with its interval, and the runs per game."""
    names = aggregate_names(group)
    scale = "HNS" if group.scale == "hns" else "raw return"
    table = Table(
        f"aggregates_{group.scale}",
        f"Aggregates of {scale} over {_games(group)}, with 95% CIs (best entry in bold)",
        [Column(entry_kind), Column("runs per game")] + [Column(aggregate_label(group.scale, n), 3) for n in names],
    )
    for s in group.subjects:
        values = group.aggregates[s.label]
        counts = [len(s.returns[g]) for g in group.games]
        table.rows.append([s.label, _runs_per_game(counts), *(values.get(n) for n in names)])
    for column, name in enumerate(names, start=2):
        candidates = [
            (i, cell.value)
            for i, (row, s) in enumerate(zip(table.rows, group.subjects, strict=True))
            if not s.published and isinstance(cell := row[column], Interval)
        ]
        if name in _NO_BEST or not candidates:
            continue
        best = (min if name in _LOWER_IS_BETTER else max)(value for _, value in candidates)
        table.bold |= {(i, column) for i, value in candidates if value == best}
    return table


def baseline_table(group: Group, baseline: str, entry_kind: str) -> Table:
    """Per subject other than the baseline: probability of improvement over it and the IQM difference from it."""
    scale = "HNS" if group.scale == "hns" else "raw return"
    table = Table(
        f"baseline_{group.scale}",
        f"Against {baseline}, on {scale} over {_games(group)}: probability of improvement and IQM difference, "
        "with 95% CIs",
        [Column(entry_kind), Column(f"P(X > {baseline})", 3), Column(f"IQM(X) - IQM({baseline}) ({scale})", 3)],
    )
    for s in group.subjects:
        if s.label in group.improvement:
            table.rows.append([s.label, group.improvement[s.label], group.iqm_difference[s.label]])
    table.notes.append(
        "P(X > Y): for each game the chance that a run of X scores above a run of Y (ties count one half), "
        "averaged over games (rliable's probability of improvement)"
    )
    return table
