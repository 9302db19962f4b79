"""A comparison drawn: one panel per figure, BASE and NEW side by side for every run in both,
with each side's range when its runs were repeated and NEW/BASE above the pair."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dbkit.model.compare import FIGURES, Comparison, RunDelta
from dbkit.model.errors import ConfigError
from dbkit.model.results import Result
from dbkit.present.plot.canvas import BAR_WIDTH, draw_figure, legend, pad_bars

if TYPE_CHECKING:
    from matplotlib.axes import Axes

SIDES = (("base", "tab:gray"), ("new", "tab:blue"))


def plot_figure(ax: Axes, comparison: Comparison, figure: str) -> str:
    """One figure of every run in both: BASE's bar beside NEW's, the ratio above them."""
    runs = comparison.runs
    width = BAR_WIDTH / 2
    xs = list(range(len(runs)))
    top = 0.0
    for offset, (side, colour) in zip((-width / 2, width / 2), SIDES, strict=True):
        label = comparison.base_label if side == "base" else comparison.new_label
        heights, lows, highs = [], [], []
        for run in runs:
            delta = run.figure(figure)
            found = delta.base_values if side == "base" else delta.new_values
            middle = (delta.base if side == "base" else delta.new) or 0.0
            heights.append(middle)
            lows.append(middle - min(found, default=middle))
            highs.append(max(found, default=middle) - middle)
            top = max(top, max(found, default=0.0))
        spread = any(lows) or any(highs)  # error bars only where repeats differ
        ax.bar([x + offset for x in xs], heights, width, color=colour, label=f"{side}: {label}",
               yerr=[lows, highs] if spread else None, capsize=3)  # fmt: skip
    for x, run in zip(xs, runs, strict=True):
        ratio = run.figure(figure).ratio
        if ratio is not None:
            ax.annotate(f"{ratio:.2f}x", (x, top * 1.02), ha="center", fontsize=8)
    ax.set_xticks(xs, [_tick(run) for run in runs], fontsize=9 if len(runs) <= 5 else 8)
    pad_bars(ax, len(runs))
    ax.set_ylim(0, top * 1.15 or 1)
    ax.grid(axis="y", alpha=0.3)
    title = FIGURES[figure]
    ax.set_title(title, fontsize=10)
    legend(ax)
    return title


def _tick(run: RunDelta) -> str:
    if run.base_repeats > 1 or run.new_repeats > 1:
        return f"{run.name}\nx{run.base_repeats} / x{run.new_repeats}"
    return run.name


def plot_compare(comparison: Comparison, results: Sequence[Result], path: Path) -> list[str]:
    """Every figure of the comparison, one panel each, into one PNG at ``path`` (never over a
    file); ``results`` (BASE and NEW) name the servers above. The panels' titles."""
    if not comparison.runs:
        raise ConfigError("nothing to plot: no run name is in both files")
    panels = [functools.partial(plot_figure, comparison=comparison, figure=f) for f in FIGURES]
    return draw_figure(panels, results, path)
