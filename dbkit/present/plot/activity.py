"""A run's timeline: throughput and errors per second, and its connections, over its window.

One panel per run (a fleet's: per service): completions and failed attempts (by SQLSTATE) per
second on the left axis; on the right, against max_connections, the run's own connections, the
pooler's server connections (through one) and the tasks in flight; a fault's action shaded
with its recovery marked.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dbkit.model.faults import FaultRecord
from dbkit.model.fleet import FleetSection
from dbkit.model.results import Run
from dbkit.model.timeline import Timeline
from dbkit.present.plot.canvas import Limits, legend, sqlstate_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_TIMELINES = 6  # panels of this kind in one figure: the first runs that have a timeline
ERROR_COLORS = ("tab:red", "tab:orange", "tab:purple", "tab:brown", "tab:pink")


def timeline_runs(runs: Sequence[Run]) -> list[Run]:
    """The runs whose timelines are drawn: those that have one, at most MAX_TIMELINES."""
    return [run for run in runs if run.timeline][:MAX_TIMELINES]


def _label(label: str) -> str:
    # a timeline's labels are SQLSTATEs, or an exception's class name without one
    is_state = len(label) == 5 and label.isalnum() and label.upper() == label
    return sqlstate_label(label if is_state else None, label)


def _faults(ax: Axes, faults: Sequence[FaultRecord]) -> None:
    for fault in faults:
        if fault.at_s < 0:
            continue  # never fired
        ax.axvspan(
            fault.at_s,
            fault.at_s + max(fault.action_s, 0.01),
            color="gold",
            alpha=0.35,
            label=f"{fault.kind} at {fault.at_s:.1f} s (took {fault.action_s:.2f} s)",
        )
        if fault.recovery_s is not None:
            ax.axvline(
                fault.at_s + fault.recovery_s,
                color="tab:green",
                linestyle="-.",
                linewidth=1.2,
                label=f"recovered {fault.recovery_s:.2f} s after it",
            )


def plot_activity(
    ax: Axes, run: Run, limits: Limits, fleet: FleetSection | None = None, mark: str = ""
) -> str:
    """Throughput, errors and connections per interval of ``run``'s timeline; a fleet's
    service shows the fleet's fault and the service's own connections (its member tag).
    ``mark`` says which repeat the run is (`` #2``), if it was repeated."""
    tl = run.timeline
    mids = [t + tl.interval_s / 2 for t in tl.t]
    ax.plot(mids, tl.throughput(), color="tab:blue", linewidth=1.4, label="completed / s")
    for color, (label, series) in zip(ERROR_COLORS * 4, tl.errors.items(), strict=False):
        rates = [n / tl.interval_s for n in series]
        ax.plot(mids, rates, color=color, linewidth=1.2, label=f"failed / s: {_label(label)}")
    ax.set_xlabel("time since the run's window started (s)")
    ax.set_ylabel(f"per second (per {tl.interval_s * 1000:.0f} ms interval)")
    top = max([*tl.throughput(), *(n / tl.interval_s for s in tl.errors.values() for n in s)])
    ax.set_ylim(0, top * 1.45 or 1)  # room above the lines for the legend
    ax.grid(alpha=0.3)
    _faults(ax, [*run.faults, *([fleet.fault] if fleet and fleet.fault else [])])
    twin = ax.twinx()
    # Through a pooler, the server connections are the pooler's: the run's tag is on them only
    # now and then (see dbkit.model.results), so its count would say less than the server has.
    pooled = _step(twin, tl, tl.pooler, "dimgray", "-", "the pooler's server connections")
    own = () if pooled else tl.connections
    seen = _step(twin, tl, own, "dimgray", "-",
                 "the service's connections" if fleet else "the run's connections")  # fmt: skip
    flying = _step(twin, tl, tl.in_flight, "black", ":", "tasks in flight")
    limits.draw(twin)
    twin.set_ylabel("connections (pg_stat_activity), tasks in flight")
    twin.set_ylim(0, max([*seen, *pooled, *flying, limits.max_connections or 0]) * 1.45 or 1)
    legend(ax, twin, loc="upper right")
    peak = f", up to {max(seen)} connections" if seen else ""
    if pooled:
        peak = f", the pooler's up to {max(pooled)} server connections"
    if flying:
        peak += f", {max(flying)} tasks in flight"
    what = f"{run.ok:,} ok, {run.failed:,} failed in {run.wall_s:.1f} s"
    title = f"Timeline {run.name}{mark}: {what}{peak}"
    ax.set_title(title)
    return title


def _step(
    ax: Axes, tl: Timeline, series: Sequence[int | None], color: str, style: str, label: str
) -> list[int]:
    """A per-interval series as steps (gaps where it has no value); returns its values."""
    values = [n for n in series if n is not None]
    if values:
        counts = [math.nan if n is None else n for n in series]
        ax.step(
            tl.t, counts, where="post", color=color, linestyle=style, linewidth=1.2, label=label
        )
    return values
