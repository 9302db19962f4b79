"""Result documents as one PNG: each panel is a ``plot_*`` function drawing on one Axes.

``plot_results`` picks the panels the runs call for (a sweep, a storm, the sleep baseline, a
fleet, else a plain comparison). matplotlib is imported lazily and drawn through the Agg canvas
directly (no pyplot), so importing dbkit never needs it and no global backend is switched.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from dbkit.model.errors import ConfigError
from dbkit.model.records import error_label
from dbkit.model.results import Result, Run
from dbkit.present.report import POST_SLEEP_S, format_server
from dbkit.store.files import write_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LegendLoc = Literal[
    "best", "upper left", "upper right", "center left", "center right", "lower right"
]
STORM_STRATEGIES = ("unbatched", "batched")
BAR_WIDTH = 0.6
MODE_COLORS = {"unbatched": "tab:red", "batched": "tab:blue"}
OK_COLOR = "tab:green"
FAIL_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:olive")
# Condition names (PostgreSQL Appendix A) of the SQLSTATEs a connection storm produces.
SQLSTATE_NAMES = {
    "08001": "sqlclient_unable_to_establish_sqlconnection",
    "08004": "sqlserver_rejected_establishment_of_sqlconnection",
    "08006": "connection_failure",
    "28000": "invalid_authorization_specification",
    "28P01": "invalid_password",
    "53200": "out_of_memory",
    "53300": "too_many_connections",
    "53400": "configuration_limit_exceeded",
    "57014": "query_canceled",
    "57P01": "admin_shutdown",
    "57P03": "cannot_connect_now",
}


@dataclass(frozen=True)
class Limits:
    """The server's connection ceilings, for reference lines: max and what a plain role may use."""

    max_connections: int | None = None
    usable: int | None = None

    @classmethod
    def of(cls, results: Sequence[Result]) -> Limits:
        for result in results:
            meta = result.metadata
            top = meta.get("max_connections")
            if isinstance(top, int):
                usable = None
                if not meta.get("app_role_is_superuser"):
                    reserved = int(meta.get("superuser_reserved_connections") or 0)
                    reserved += int(meta.get("reserved_connections") or 0)
                    usable = top - reserved if reserved else None
                return cls(top, usable)
        return cls()

    def draw(self, ax: Axes) -> None:
        if self.max_connections is not None:
            ax.axhline(
                self.max_connections,
                color="black",
                linestyle="--",
                linewidth=1.2,
                label=f"max_connections ({self.max_connections})",
            )
        if self.usable is not None:
            ax.axhline(
                self.usable,
                color="dimgray",
                linestyle=":",
                linewidth=1.2,
                label=f"usable by a non-superuser ({self.usable})",
            )


@dataclass(frozen=True)
class SweepSeries:
    """Runs of one strategy over one knob, in knob order, and the knee if the sweep named one."""

    label: str
    param: str
    runs: tuple[Run, ...]
    knee: int | None = None
    tolerance: float | None = None


def sqlstate_label(sqlstate: str | None, type_name: str) -> str:
    """``53300 too_many_connections``, or the exception's class name without a SQLSTATE."""
    if sqlstate is None:
        return error_label(type_name, sqlstate)
    name = SQLSTATE_NAMES.get(sqlstate)
    return f"{sqlstate} {name}" if name else sqlstate


def _param(run: Run, param: str) -> int | None:
    value = run.params.get(param)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _pad_bars(ax: Axes, n: int) -> None:
    # One or two bars would otherwise stretch across the whole panel.
    pad = 0.5 + 0.5 * max(0, 3 - n)
    ax.set_xlim(-pad, n - 1 + pad)


def _legend(ax: Axes, *more: Axes, loc: LegendLoc = "best") -> None:
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        h, lab = other.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        ax.legend(handles, labels, loc=loc, fontsize=9, framealpha=0.9)


# -- panels ---------------------------------------------------------------------------------


def plot_sweep(ax: Axes, series: Sequence[SweepSeries]) -> str:
    """Throughput (left axis) and p99 latency (right axis) against the swept knob, knee marked."""
    right = ax.twinx()
    params = sorted({s.param for s in series})
    colors = ("tab:blue", "tab:green", "tab:purple", "tab:brown", "tab:cyan")
    knees = []
    for i, s in enumerate(series):
        color = colors[i % len(colors)]
        # by the knob alone: runs at one value (a repeated point) have no order among them
        points = sorted(((_param(r, s.param) or 0, r) for r in s.runs), key=lambda p: p[0])
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
    every_x = [_param(r, s.param) or 0 for s in series for r in s.runs]
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
    _legend(ax, right, loc="center right")
    param = params[0] if len(params) == 1 else "the knob"
    if len(knees) == 1:
        title = f"Sweep: throughput levels off at {param} {knees[0]} (the knee)"
    else:
        title = f"Sweep: throughput and p99 latency by {param}"
    ax.set_title(title)
    return title


def _run_label(run: Run) -> str:
    # A source appended by _distinct_names goes on its own line to keep ticks narrow.
    return f"{run.name.replace(' (', chr(10) + '(')}\n{run.tasks:,} tasks"


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
    ax.set_xticks(list(xs), [_run_label(r) for r in runs], fontsize=9 if len(runs) <= 5 else 8)
    _pad_bars(ax, len(runs))
    ax.set_ylabel("tasks")
    ax.set_ylim(0, max(r.tasks for r in runs) * 1.3 or 1)
    ax.grid(axis="y", alpha=0.3)
    _legend(ax, loc="upper right")
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


def _draw_samples(ax: Axes, label: str, pairs: Sequence[tuple[float, int]]) -> str:
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
        if not run.timeline:
            continue
        peak = max(peak, *(n for _, n in run.timeline))
        color = _draw_samples(ax, run.name, run.timeline)
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
    _legend(ax, loc="center left")
    if limits.usable is not None:
        title = f"Storm: connections stop at {peak}, near the {limits.usable} a plain role may use"
    elif limits.max_connections is not None:
        title = f"Storm: connections stop at {peak} (max_connections {limits.max_connections})"
    else:
        title = f"Storm: server connections peak at {peak}"
    ax.set_title(title)
    return title


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
    _legend(ax, loc="upper left")
    title = "Sleep baseline: wall time by task count, here vs the background post"
    ax.set_title(title)
    return title


def _fleet_timeline(result: Result) -> list[tuple[float, int]]:
    """The fleet's connection samples: every service's run carries the same ones."""
    return next((list(run.timeline) for run in result.runs if run.timeline), [])


def plot_fleet(ax: Axes, result: Result) -> str:
    """A fleet's connections over time (or its services' peaks) against its budget."""
    fleet: Mapping[str, Any] = result.fleet.to_dict() if result.fleet else {}
    budget = fleet.get("budget")
    top = fleet.get("max_connections", result.metadata.get("max_connections"))
    planned = fleet.get("total_peak_planned", fleet.get("total_peak"))
    timeline = _fleet_timeline(result)
    peak = 0
    if timeline:
        peak = max(n for _, n in timeline)
        _draw_samples(ax, "the fleet's connections (all services)", timeline)
        ax.set_xlabel("time since the run started (s)")
        ax.set_ylabel("connections (pg_stat_activity)")
        if isinstance(planned, int):
            ax.axhline(
                planned, color="tab:orange", linestyle="-.", label=f"planned worst case ({planned})"
            )
    else:
        services = [s for s in fleet.get("services", ()) if isinstance(s, Mapping)]
        names = [str(s.get("name")) for s in services] + ["total"]
        peaks = [int(s.get("peak", 0)) for s in services]
        peaks.append(int(planned) if isinstance(planned, int) else sum(peaks))
        colors = ["tab:blue"] * len(services) + ["tab:orange"]
        bars = ax.bar(range(len(names)), peaks, BAR_WIDTH, color=colors)
        ax.bar_label(bars, fontsize=9)
        ax.set_xticks(range(len(names)), names, fontsize=9)
        ax.set_ylabel("worst-case connections (every pool full)")
        peak = max(peaks)
    if isinstance(budget, int):
        ax.axhline(budget, color="tab:red", linewidth=2, label=f"budget ({budget})")
    if isinstance(top, int):
        ax.axhline(top, color="black", linestyle="--", label=f"max_connections ({top})")
    ax.set_ylim(0, max(peak, budget or 0, top or 0, planned or 0) * 1.12 or 1)
    ax.grid(alpha=0.3)
    _legend(ax, loc="lower right" if timeline else "upper left")
    first = fleet.get("first_failure")
    if isinstance(first, Mapping) and isinstance(first.get("at_s"), int | float) and timeline:
        ax.axvline(
            float(first["at_s"]), color="tab:red", linestyle=":",
            label=f"first failure: {first.get('service')} {first.get('sqlstate') or ''}".rstrip(),
        )  # fmt: skip
        _legend(ax, loc="lower right")
    outcome = ""
    if isinstance(fleet.get("failed"), int):
        outcome = f"; FAILED: {fleet['failed']} tasks" if fleet["failed"] else "; ran clean"
    if isinstance(budget, int):
        worst = planned if isinstance(planned, int) else peak
        verdict = f"over by {worst - budget}" if worst > budget else "fits"
        title = f"Fleet: planned peak {worst} vs budget {budget} ({verdict})"
        if timeline:
            title += f", measured peak {peak}"
        title += outcome
    else:
        title = f"Fleet: connections peak at {peak}{outcome}"
    ax.set_title(title)
    return title


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
    ax.set_xticks(xs, [_run_label(r) for r in runs], fontsize=9 if len(runs) <= 5 else 8)
    _pad_bars(ax, len(runs))
    ax.set_ylabel("throughput (successful queries/s)")
    right.set_ylabel("efficiency (1.0 = ideal, failures earn nothing)")
    right.set_ylim(0, 1.25)
    ax.set_ylim(0, max(r.throughput_qps for r in runs) * 1.15 or 1)
    ax.grid(axis="y", alpha=0.3)
    _legend(ax, right, loc="upper left")
    clean = [r for r in runs if r.ok and not r.failed]
    failing = [r for r in runs if r.failed]
    parts = []
    if clean:
        parts.append(
            f"{max(clean, key=lambda r: r.throughput_qps).name} is fastest without failures"
        )
    if failing:
        worst = max(failing, key=lambda r: r.failed / r.tasks if r.tasks else 0)
        parts.append(f"{worst.name} lost {worst.failed:,} of {worst.tasks:,} tasks")
    title = "Comparison: " + ("; ".join(parts) or "throughput and efficiency per run")
    ax.set_title(title)
    return title


# -- choosing panels ------------------------------------------------------------------------


def _sweep_series(results: Sequence[Result]) -> list[SweepSeries]:
    series: list[SweepSeries] = []
    loose: dict[str, list[tuple[int, Run]]] = {}
    for index, result in enumerate(results):
        sweep = result.sweep or {}
        param = sweep.get("param")
        if isinstance(param, str):
            knee_map = sweep.get("knee")
            knee = None
            if isinstance(knee_map, Mapping):
                value = knee_map.get(param, knee_map.get("value"))
                knee = value if isinstance(value, int) else None
            tol = sweep.get("tolerance")
            by_strategy: dict[str, list[Run]] = {}
            for run in result.runs:
                if _param(run, param) is not None:
                    by_strategy.setdefault(run.strategy, []).append(run)
            for strategy, runs in by_strategy.items():
                series.append(
                    SweepSeries(
                        strategy,
                        param,
                        tuple(runs),
                        knee if len(by_strategy) == 1 else None,
                        tol if isinstance(tol, float) else None,
                    )
                )
        else:
            for run in result.runs:
                if _param(run, "pool_size") is not None:
                    loose.setdefault(run.strategy, []).append((index, run))
    sources = _sources(results)
    for strategy, found in loose.items():
        sizes = [_param(r, "pool_size") for _, r in found]
        if len(set(sizes)) == len(sizes):  # one curve across results, one point per size
            groups = {strategy: [r for _, r in found]}
        else:  # the same sizes again (before/after): a curve per result
            groups = {}
            for index, run in found:
                groups.setdefault(f"{strategy} ({sources[index]})", []).append(run)
        for label, runs in groups.items():
            if len({_param(r, "pool_size") for r in runs}) >= 2:
                series.append(SweepSeries(label, "pool_size", tuple(runs)))
    return series


Panel = Callable[["Axes"], str]


def _source(result: Result, index: int) -> str:
    command = result.metadata.get("command")
    if isinstance(command, list) and len(command) >= 3:
        return " ".join(str(c) for c in command[1:3])
    return f"result {index + 1}"


def _sources(results: Sequence[Result]) -> list[str]:
    """What each result is called in labels (``scenario storm``), numbered where alike."""
    sources = [_source(result, i) for i, result in enumerate(results)]
    return [f"{src} #{i + 1}" if sources.count(src) > 1 else src for i, src in enumerate(sources)]


def _distinct_names(results: Sequence[Result]) -> list[Result]:
    """Runs named alike in different results get their source (``scenario storm``) appended."""
    owners: dict[str, set[int]] = {}
    for i, result in enumerate(results):
        for run in result.runs:
            owners.setdefault(run.name, set()).add(i)
    sources = _sources(results)
    out = []
    for i, result in enumerate(results):
        runs = tuple(
            dataclasses.replace(run, name=f"{run.name} ({sources[i]})")
            if len(owners[run.name]) > 1
            else run
            for run in result.runs
        )
        out.append(dataclasses.replace(result, runs=runs))
    return out


def choose_panels(results: Sequence[Result]) -> list[Panel]:
    """The panels these results call for, in reading order; empty when nothing can be drawn."""
    results = _distinct_names(results)
    runs = [run for result in results for run in result.runs]
    limits = Limits.of(results)
    panels: list[Panel] = []
    covered: set[int] = set()

    series = _sweep_series(results)
    if series:
        panels.append(lambda ax: plot_sweep(ax, series))
        covered.update(id(r) for s in series for r in s.runs)

    storm = [r for r in runs if r.strategy in STORM_STRATEGIES]
    if storm:
        panels.append(lambda ax: plot_storm_errors(ax, storm))
        covered.update(id(r) for r in storm)
        timed = [r for r in storm if r.timeline]
        if timed:
            panels.append(lambda ax: plot_timeline(ax, timed, limits))

    sleep = [r for r in runs if r.strategy == "sleep"]
    if sleep:
        panels.append(lambda ax: plot_sleep(ax, sleep))
        covered.update(id(r) for r in sleep)

    for result in results:
        if result.fleet is not None:
            panels.append(functools.partial(plot_fleet, result=result))
            covered.update(id(r) for r in result.runs)

    # Runs no panel above shows (a pool or semaphore next to the storm): compare them all.
    db_runs = [r for r in runs if r.strategy != "sleep"] or runs
    if db_runs and (not panels or any(id(r) not in covered for r in db_runs)):
        panels.append(lambda ax: plot_comparison(ax, db_runs))
    return panels


def _grid(n: int) -> tuple[int, int, tuple[float, float]]:
    if n == 1:
        return 1, 1, (11.0, 7.0)
    if n == 2:
        return 1, 2, (16.0, 6.5)
    if n <= 4:
        return 2, 2, (16.0, 11.0)
    return math.ceil(n / 3), 3, (21.0, 5.5 * math.ceil(n / 3))


def plot_results(results: Sequence[Result], path: Path) -> list[str]:
    """Draw what the results call for into one PNG at ``path``; return the panels' titles.

    Raises ConfigError when nothing in the results can be plotted, ResultExistsError when
    ``path`` exists (a plot is never overwritten).
    """
    panels = choose_panels(results)
    if not panels:
        raise ConfigError("nothing to plot: the results hold no runs and no fleet")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows, cols, size = _grid(len(panels))
    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).flatten()
    titles = [panel(ax) for panel, ax in zip(panels, axes, strict=False)]
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    servers = dict.fromkeys(format_server(r) for r in results)
    fig.suptitle("\n".join(servers), fontsize=10, color="dimgray")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    write_new(path, lambda out: out.write(buf.getvalue()))
    return titles
