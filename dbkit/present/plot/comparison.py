"""Comparison bars: throughput and efficiency side by side for every run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbkit.model.results import Run
from dbkit.present.plot.canvas import BAR_WIDTH, legend, pad_bars, run_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def plot_comparison(ax: Axes, runs: Sequence[Run]) -> str:
    """Throughput (left) and efficiency (right) side by side for every run."""
    right = ax.twinx()
    width = BAR_WIDTH / 2
    xs = list(range(len(runs)))
    ax.bar(
        [x - width / 2 for x in xs],
        [r.throughput_qps for r in runs],
        width,
        color="tab:blue",
        label="throughput (q/s)",
    )
    effs = [r.efficiency for r in runs]
    right.bar(
        [x + width / 2 for x in xs],
        [e or 0.0 for e in effs],
        width,
        color="tab:orange",
        label="efficiency (ideal/wall x ok/tasks)",
    )
    for x, r, e in zip(xs, runs, effs, strict=True):
        note = "n/a" if e is None else f"{e:.2f}"
        if r.failed:
            note += f"\n{r.failed:,} failed"
        right.annotate(
            note,
            (x + width / 2, e or 0.0),
            textcoords="offset points",
            xytext=(0, 3),
            ha="center",
            fontsize=8,
            color="tab:red" if r.failed else "black",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    ax.set_xticks(xs, [run_label(r) for r in runs], fontsize=9 if len(runs) <= 5 else 8)
    pad_bars(ax, len(runs))
    ax.set_ylabel("throughput (successful queries/s)")
    right.set_ylabel("efficiency (1.0 = ideal, failures earn nothing)")
    right.set_ylim(0, 1.25)
    ax.set_ylim(0, max(r.throughput_qps for r in runs) * 1.15 or 1)
    ax.grid(axis="y", alpha=0.3)
    legend(ax, right, loc="upper left")
    # A run cut short (Ctrl-C) did part of its work: its rate is no measure of the strategy,
    # so it is never ranked, only named as interrupted.
    whole = [r for r in runs if not r.interrupted]
    clean = [r for r in whole if r.ok and not r.failed]
    failing = [r for r in whole if r.failed]
    cut = [r.name for r in runs if r.interrupted]
    parts = []
    if clean:
        parts.append(
            f"{max(clean, key=lambda r: r.throughput_qps).name} is fastest without failures"
        )
    if failing:
        worst = max(failing, key=lambda r: r.failed / r.tasks if r.tasks else 0)
        parts.append(f"{worst.name} lost {worst.failed:,} of {worst.tasks:,} tasks")
    if cut:
        parts.append(f"{', '.join(cut)} {'was' if len(cut) == 1 else 'were'} interrupted")
    title = "Comparison: " + ("; ".join(parts) or "throughput and efficiency per run")
    ax.set_title(title)
    return title
