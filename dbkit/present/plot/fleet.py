"""A fleet: its connections over time (or its services' planned peaks) against its budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dbkit.model.results import Result
from dbkit.present.plot.canvas import BAR_WIDTH, legend
from dbkit.present.plot.timeline import draw_samples

if TYPE_CHECKING:
    from matplotlib.axes import Axes


def _fleet_timeline(result: Result) -> list[tuple[float, int]]:
    """The fleet's connection samples: every service's run carries the same ones."""
    return next((list(run.connection_samples) for run in result.runs if run.connection_samples), [])


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
        draw_samples(ax, "the fleet's connections (all services)", timeline)
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
    legend(ax, loc="lower right" if timeline else "upper left")
    first = fleet.get("first_failure")
    if isinstance(first, Mapping) and isinstance(first.get("at_s"), int | float) and timeline:
        ax.axvline(
            float(first["at_s"]), color="tab:red", linestyle=":",
            label=f"first failure: {first.get('service')} {first.get('sqlstate') or ''}".rstrip(),
        )  # fmt: skip
        legend(ax, loc="lower right")
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
