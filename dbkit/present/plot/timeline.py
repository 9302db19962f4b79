"""Connections over time: each run's own sampled connections against max_connections."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbkit.model.results import Run
from dbkit.present.plot.canvas import Limits, legend, sqlstate_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def draw_samples(ax: Axes, label: str, pairs: Sequence[tuple[float, int]]) -> str:
    """The sampled (t, n) points joined by a line; gaps in the sampling shaded, not invented.

    Returns the line's color. A gap is an interval over four times the usual one (and over
    0.2 s): the monitor took no sample there, so the line across it is a guess.
    """
    from matplotlib.colors import to_hex

    ts = [t for t, _ in pairs]
    ns = [n for _, n in pairs]
    line = ax.plot(ts, ns, marker=".", markersize=5, label=label)[0]
    labels = ax.get_legend_handles_labels()[1]
    steps = sorted(b - a for a, b in itertools.pairwise(ts))
    if steps:
        usual = steps[len(steps) // 2]
        gaps = [(a, b) for a, b in itertools.pairwise(ts) if b - a > max(4 * usual, 0.2)]
        for i, (a, b) in enumerate(gaps):
            ax.axvspan(
                a,
                b,
                facecolor="none",
                edgecolor="silver",
                hatch="//",
                linewidth=0,
                label=None if i or "no samples taken" in labels else "no samples taken",
            )
    return to_hex(line.get_color())


def plot_timeline(ax: Axes, runs: Sequence[Run], limits: Limits) -> str:
    """Each run's own connections over its time against max_connections."""
    peak = 0
    for run in runs:
        if not run.connection_samples:
            continue
        peak = max(peak, *(n for _, n in run.connection_samples))
        color = draw_samples(ax, run.name, run.connection_samples)
        for err in run.errors:
            ax.axvspan(
                err.first_s,
                max(err.last_s, err.first_s + 0.005),
                color=color,
                alpha=0.15,
                label=f"{run.name}: {err.count:,} x {sqlstate_label(err.sqlstate, err.type)}",
            )
    limits.draw(ax)
    ax.set_xlabel("time since the run started (s)")
    ax.set_ylabel("the run's connections (pg_stat_activity)")
    top = max(peak, limits.max_connections or 0)
    ax.set_ylim(0, top * 1.12 or 1)
    ax.grid(alpha=0.3)
    legend(ax, loc="center left")
    if limits.usable is not None:
        title = f"Storm: connections stop at {peak}, near the {limits.usable} a plain role may use"
    elif limits.max_connections is not None:
        title = f"Storm: connections stop at {peak} (max_connections {limits.max_connections})"
    else:
        title = f"Storm: server connections peak at {peak}"
    ax.set_title(title)
    return title
