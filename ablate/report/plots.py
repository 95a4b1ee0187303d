"""The report's plots as PNG, in rliable's style: aggregate intervals, performance profiles, probability of
improvement, and sample-efficiency curves per game. Bare matplotlib Figures (Agg, no pyplot state)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ablate.report.statistics import Comparison, Group, Subject
from ablate.report.tables import aggregate_label, aggregate_names

_SCALE_LABELS = {"hns": "human-normalised score", "return": "raw return"}
_PER_ROW = 4  # subplots


@dataclass(frozen=True)
class Image:
    name: str  # its file name
    title: str
    png: bytes


def colours(subjects: Sequence[Subject]) -> dict[str, tuple[float, ...]]:
    """One colour per subject, the same in every plot: the entries' from tab10, the published baselines' greys."""
    entries = [s.label for s in subjects if not s.published]
    published = [s.label for s in subjects if s.published]
    found = {label: tuple(colormaps["tab10"](i % 10)) for i, label in enumerate(entries)}
    greys = np.linspace(0.25, 0.7, max(1, len(published)))
    return found | {label: (g, g, g, 1.0) for label, g in zip(published, greys, strict=False)}


def _png(figure: Figure) -> bytes:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _grid(count: int, width: float, height: float) -> tuple[Figure, list[Axes]]:
    columns = min(_PER_ROW, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(width * columns, height * rows))
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, list(axes[:count])


def _interval_bars(ax: Axes, rows: Sequence[tuple[str, float, float, float]], colour: dict[str, tuple]) -> None:
    """rliable's interval plot: per row a bar over the interval and a tick at the point estimate; an unbounded
    end is drawn to the edge of the finite values and marked."""
    finite = [x for _, *values in rows for x in values if math.isfinite(x)]
    edge = max(finite) + 0.1 * (max(finite) - min(finite) or 1.0)
    for i, (label, value, low, high) in enumerate(rows):
        right = high if math.isfinite(high) else edge
        ax.barh(i, right - low, left=low, height=0.6, color=colour[label], alpha=0.75)
        ax.vlines(value, i - 0.3, i + 0.3, color="black", alpha=0.6)
        if not math.isfinite(high):
            ax.annotate("inf", (edge, i), xytext=(2, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)), [label for label, *_ in rows])
    ax.use_sticky_edges = False  # bars stick to their ends; a tick at the edge would hide under the spine
    ax.margins(x=0.08)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)


def aggregates_figure(group: Group, colour: dict[str, tuple]) -> Image:
    """One panel per aggregate: each subject's point estimate and 95% interval."""
    names = aggregate_names(group)
    figure, axes = _grid(len(names), 3.4, 0.45 * len(group.subjects) + 1.2)
    for ax, name in zip(axes, names, strict=True):
        rows = [
            (s.label, i.value, i.ci_low, i.ci_high)
            for s in group.subjects
            if (i := group.aggregates[s.label].get(name)) is not None
        ]
        _interval_bars(ax, rows, colour)
        ax.set_title(aggregate_label(group.scale, name), fontsize=10)
    figure.supxlabel(_SCALE_LABELS[group.scale])
    return Image(f"aggregates_{group.scale}.png", f"Aggregates of {_SCALE_LABELS[group.scale]}", _png(figure))


def profiles_figure(group: Group, colour: dict[str, tuple]) -> Image:
    """Performance profiles: the fraction of runs scoring above each threshold, with 95% bands."""
    figure = Figure(figsize=(6.5, 4.2))
    ax = figure.subplots()
    for s in group.subjects:
        band = group.profiles[s.label]
        style = "--" if s.published else "-"
        ax.plot(group.thresholds, band.values, color=colour[s.label], linestyle=style, label=s.label)
        alpha = 0.06 if s.published else 0.15
        ax.fill_between(group.thresholds, band.ci_low, band.ci_high, color=colour[s.label], alpha=alpha, linewidth=0)
    ax.legend(fontsize=8)
    ax.set(
        xlabel=f"{_SCALE_LABELS[group.scale]} threshold tau",
        ylabel="fraction of runs with score > tau",
        ylim=(-0.02, 1.02),
    )
    ax.grid(alpha=0.3)
    return Image(f"profiles_{group.scale}.png", f"Performance profiles on {_SCALE_LABELS[group.scale]}", _png(figure))


def improvement_figure(group: Group, baseline: str, colour: dict[str, tuple]) -> Image:
    """Probability of improvement of each subject over the baseline, with 95% intervals."""
    rows = [(s.label, i.value, i.ci_low, i.ci_high) for s in group.subjects if (i := group.improvement.get(s.label))]
    figure = Figure(figsize=(6.0, 0.45 * len(rows) + 1.4))
    ax = figure.subplots()
    _interval_bars(ax, rows, colour)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set(xlim=(-0.03, 1.03), xlabel=f"P(X > {baseline}) on {_SCALE_LABELS[group.scale]}")
    return Image(f"improvement_{group.scale}.png", f"Probability of improvement over {baseline}", _png(figure))


def curves_figure(comparison: Comparison, colour: dict[str, tuple]) -> Image | None:
    """Per game, `eval/return` against environment steps: the mean over seeds with its 95% band; the published
    baselines' final mean scores as dashed lines."""
    games = list(dict.fromkeys(c.game for c in comparison.curves))
    if not games:
        return None
    figure, axes = _grid(len(games), 4.0, 3.0)
    for ax, game in zip(axes, games, strict=True):
        for c in (c for c in comparison.curves if c.game == game):
            ax.plot(c.steps, c.band.values, color=colour[c.subject], marker=".", label=f"{c.subject} ({c.runs})")
            ax.fill_between(c.steps, c.band.ci_low, c.band.ci_high, color=colour[c.subject], alpha=0.2, linewidth=0)
        for label, value in comparison.references.get(game, {}).items():
            ax.axhline(value, color=colour[label], linestyle="--", linewidth=1, label=f"{label}, final")
        ax.set_title(game, fontsize=10)
        ax.set(xlabel="environment steps", ylabel="eval/return")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return Image("curves.png", "Sample efficiency: evaluation return against environment steps", _png(figure))
