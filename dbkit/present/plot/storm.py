"""The storm's bars: per run, the tasks that succeeded and the failures by SQLSTATE."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbkit.model.results import Run
from dbkit.present.plot.canvas import BAR_WIDTH, legend, pad_bars, run_label, sqlstate_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

STORM_STRATEGIES = ("unbatched", "batched")
OK_COLOR = "tab:green"
FAIL_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")


def plot_storm_errors(ax: Axes, runs: Sequence[Run]) -> str:
    """Stacked bars per run: tasks that succeeded, then the failures by SQLSTATE."""
    labels = sorted({sqlstate_label(e.sqlstate, e.type) for r in runs for e in r.errors})
    xs = range(len(runs))
    bottoms = [float(r.ok) for r in runs]
    ax.bar(xs, bottoms, BAR_WIDTH, color=OK_COLOR, label="ok")
    for i, label in enumerate(labels):
        heights = [
            float(
                sum(e.tasks_ended for e in r.errors if sqlstate_label(e.sqlstate, e.type) == label)
            )
            for r in runs
        ]
        ax.bar(
            xs,
            heights,
            BAR_WIDTH,
            bottom=bottoms,
            color=FAIL_COLORS[i % len(FAIL_COLORS)],
            label=f"failed: {label}",
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    # Failures the error records do not account for (should not happen, but never hide them).
    rest = [float(r.failed - sum(e.tasks_ended for e in r.errors)) for r in runs]
    if any(h > 0 for h in rest):
        ax.bar(xs, rest, BAR_WIDTH, bottom=bottoms, color="lightgray", label="failed: unrecorded")
    for x, r in zip(xs, runs, strict=True):
        ax.annotate(
            f"{r.ok:,} ok / {r.failed:,} failed",
            (x, r.tasks),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize=9,
        )
    ax.set_xticks(list(xs), [run_label(r) for r in runs], fontsize=9 if len(runs) <= 5 else 8)
    pad_bars(ax, len(runs))
    ax.set_ylabel("tasks")
    ax.set_ylim(0, max(r.tasks for r in runs) * 1.3 or 1)
    ax.grid(axis="y", alpha=0.3)
    legend(ax, loc="upper right")
    failed = sum(r.failed for r in runs)
    tasks = sum(r.tasks for r in runs)
    if failed:
        top = (
            max(
                labels,
                key=lambda lab: sum(
                    e.tasks_ended
                    for r in runs
                    for e in r.errors
                    if sqlstate_label(e.sqlstate, e.type) == lab
                ),
            )
            if labels
            else "unrecorded"
        )
        title = f"Storm: {failed:,} of {tasks:,} tasks failed, mostly {top}"
    else:
        title = f"Storm: all {tasks:,} tasks succeeded"
    ax.set_title(title)
    return title
