"""The sweep curve: throughput and p99 latency against the swept knob, the knee marked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dbkit.model.results import Result, Run
from dbkit.present.plot.canvas import legend, param_of, sources

if TYPE_CHECKING:
    from matplotlib.axes import Axes

CURVE_COLORS = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:cyan")


@dataclass(frozen=True)
class SweepSeries:
    """Runs of one strategy over one knob, in knob order, and the knee if the sweep named one."""

    label: str
    param: str
    runs: tuple[Run, ...]
    knee: int | None = None
    tolerance: float | None = None


def plot_sweep(ax: Axes, series: Sequence[SweepSeries]) -> str:
    """Throughput (left axis) and p99 latency (right axis) against the swept knob, knee marked."""
    right = ax.twinx()
    params = sorted({s.param for s in series})
    knees = []
    for i, s in enumerate(series):
        color = CURVE_COLORS[i % len(CURVE_COLORS)]
        # by the knob alone: runs at one value (a repeated point) have no order among them
        points = sorted(((param_of(r, s.param) or 0, r) for r in s.runs), key=lambda p: p[0])
        xs = [x for x, _ in points]
        ax.plot(
            xs,
            [r.throughput_qps for _, r in points],
            marker="o",
            color=color,
            label=f"{s.label}: throughput",
        )
        p99 = [(x, r.latency_s.p99) for x, r in points if r.latency_s.p99 is not None]
        right.plot(
            [x for x, _ in p99],
            [y for _, y in p99],
            marker="s",
            linestyle="--",
            color=color,
            alpha=0.7,
            label=f"{s.label}: p99 latency",
        )
        for x, r in points:
            if r.failed:
                ax.annotate(
                    f"{r.failed:,} failed",
                    (x, r.throughput_qps),
                    textcoords="offset points",
                    xytext=(0, -14),
                    ha="center",
                    fontsize=8,
                    color="tab:red",
                )
        if s.knee is not None:
            knees.append(s.knee)
            within = f", within {s.tolerance:.0%} of best" if s.tolerance else ""
            ax.axvline(
                s.knee,
                color="tab:red",
                linestyle=":",
                linewidth=2,
                label=f"{s.label}: knee at {s.param} {s.knee}{within}",
            )
    unit = " (connections per pool)" if params == ["pool_size"] else ""
    every_x = [param_of(r, s.param) or 0 for s in series for r in s.runs]
    if every_x and min(every_x) >= 1 and max(every_x) >= 8 * min(every_x):
        # Doubling grids (1, 2, 4 ... 64) crowd the small sizes, where the knee usually is.
        from matplotlib.ticker import FixedLocator, NullLocator

        ax.set_xscale("log", base=2)
        ax.xaxis.set_major_locator(FixedLocator(sorted(set(every_x))))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([str(x) for x in sorted(set(every_x))])
        unit += ", log scale"
    ax.set_xlabel(" / ".join(params) + unit)
    ax.set_ylabel("throughput (successful queries/s)")
    right.set_ylabel("p99 task latency (s)")
    ax.set_ylim(bottom=0)
    right.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend(ax, right, loc="center right")
    param = params[0] if len(params) == 1 else "the knob"
    if len(knees) == 1:
        title = f"Sweep: throughput levels off at {param} {knees[0]} (the knee)"
    else:
        title = f"Sweep: throughput and p99 latency by {param}"
    ax.set_title(title)
    return title


def sweep_series(results: Sequence[Result]) -> list[SweepSeries]:
    """The curves these results hold: each sweep's own runs (never other runs its document
    holds), and pool runs of results without a sweep, one curve per strategy across results
    when their sizes differ, else one per result (before and after)."""
    series: list[SweepSeries] = []
    loose: dict[str, list[tuple[int, Run]]] = {}
    for index, result in enumerate(results):
        sweep = result.sweep
        if sweep is not None:
            knee = sweep.knee.value if sweep.knee is not None else None
            by_strategy: dict[str, list[Run]] = {}
            for run in sweep.own_runs(result.runs):
                by_strategy.setdefault(run.strategy, []).append(run)
            for strategy, runs in by_strategy.items():
                series.append(
                    SweepSeries(
                        strategy,
                        sweep.param,
                        tuple(runs),
                        knee if len(by_strategy) == 1 else None,
                        sweep.tolerance,
                    )
                )
        else:
            for run in result.runs:
                if param_of(run, "pool_size") is not None:
                    loose.setdefault(run.strategy, []).append((index, run))
    names = sources(results)
    for strategy, found in loose.items():
        sizes = [param_of(r, "pool_size") for _, r in found]
        if len(set(sizes)) == len(sizes):  # one curve across results, one point per size
            label = strategy
            if any(s.label == label for s in series):  # a sweep's curve is called that
                label += f" ({', '.join(dict.fromkeys(names[i] for i, _ in found))})"
            groups = {label: [r for _, r in found]}
        else:  # the same sizes again (before/after): a curve per result
            groups = {}
            for index, run in found:
                groups.setdefault(f"{strategy} ({names[index]})", []).append(run)
        for label, runs in groups.items():
            if len({param_of(r, "pool_size") for r in runs}) >= 2:
                series.append(SweepSeries(label, "pool_size", tuple(runs)))
    return series
