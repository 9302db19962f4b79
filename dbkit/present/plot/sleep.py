"""The sleep baseline: wall time against tasks, here and in the background post."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbkit.model.results import Run
from dbkit.present.plot.canvas import legend
from dbkit.present.report import POST_SLEEP_S

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MODE_COLORS = {"unbatched": "tab:red", "batched": "tab:blue"}


def plot_sleep(ax: Axes, runs: Sequence[Run]) -> str:
    """Wall time against tasks for the sleep baseline, with the background post's figures."""
    from matplotlib.ticker import FuncFormatter

    modes = sorted({str(r.params.get("mode")) for r in runs}, key=lambda m: (m != "unbatched", m))
    for mode in modes:
        color = MODE_COLORS.get(mode, "tab:gray")
        points = sorted(
            ((r.tasks, r.wall_s, r.ideal_s) for r in runs if r.params.get("mode") == mode),
            key=lambda p: p[0],  # ideal_s may be None: never compared
        )
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            color=color,
            label=f"{mode}: measured here",
        )
        ideal = [(p[0], p[2]) for p in points if p[2] is not None]
        if ideal:
            ax.plot(
                [p[0] for p in ideal],
                [p[1] for p in ideal],
                linestyle=":",
                color=color,
                alpha=0.6,
                label=f"{mode}: ideal (sleeps only)",
            )
        post = sorted((n, s) for (n, m), s in POST_SLEEP_S.items() if m == mode)
        if post:
            ax.plot(
                [n for n, _ in post],
                [s for _, s in post],
                marker="D",
                markersize=9,
                linestyle="none",
                markerfacecolor="none",
                markeredgewidth=2,
                color=color,
                label=f"{mode}: background post (2021)",
            )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    ax.set_xlabel("tasks (coroutines, log scale)")
    ax.set_ylabel("wall time (s)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend(ax, loc="upper left")
    title = "Sleep baseline: wall time by task count, here vs the background post"
    ax.set_title(title)
    return title
