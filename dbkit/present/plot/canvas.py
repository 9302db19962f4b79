"""What every panel shares: colours, labels, legends, the server's limits, and the figure.

matplotlib is imported lazily and drawn through the Agg canvas directly (no pyplot), so
importing dbkit never needs it and no global backend is switched.
"""

from __future__ import annotations

import dataclasses
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from dbkit.model.records import error_label
from dbkit.model.results import Result, Run
from dbkit.present.report import format_server
from dbkit.store.files import write_new

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Panel = Callable[["Axes"], str]
LegendLoc = Literal[
    "best", "upper left", "upper right", "center left", "center right", "lower right"
]
BAR_WIDTH = 0.6
# Condition names (PostgreSQL Appendix A) of the SQLSTATEs a connection storm produces.
SQLSTATE_NAMES = {
    "08001": "sqlclient_unable_to_establish_sqlconnection",
    "08003": "connection_does_not_exist",
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


def sqlstate_label(sqlstate: str | None, type_name: str) -> str:
    """``53300 too_many_connections``, or the exception's class name without a SQLSTATE."""
    if sqlstate is None:
        return error_label(type_name, sqlstate)
    name = SQLSTATE_NAMES.get(sqlstate)
    return f"{sqlstate} {name}" if name else sqlstate


def param_of(run: Run, param: str) -> int | None:
    """The run's whole-number ``param`` (a pool size, a limit), or None."""
    value = run.params.get(param)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def run_label(run: Run) -> str:
    """A bar's tick: the run's name (a source appended by distinct_names on its own line, to
    keep ticks narrow), its tasks, and whether it was cut short."""
    label = f"{run.name.replace(' (', chr(10) + '(')}\n{run.tasks:,} tasks"
    return label + "\n(interrupted)" if run.interrupted else label


def pad_bars(ax: Axes, n: int) -> None:
    """Room either side of ``n`` bars: one or two would otherwise stretch across the panel."""
    pad = 0.5 + 0.5 * max(0, 3 - n)
    ax.set_xlim(-pad, n - 1 + pad)


def legend(ax: Axes, *more: Axes, loc: LegendLoc = "best") -> None:
    """One legend for ``ax`` and its twins, when anything is labelled."""
    handles, labels = ax.get_legend_handles_labels()
    for other in more:
        h, lab = other.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        ax.legend(handles, labels, loc=loc, fontsize=9, framealpha=0.9)


def _source(result: Result, index: int) -> str:
    command = result.metadata.get("command")
    if isinstance(command, list) and len(command) >= 3:
        return " ".join(str(c) for c in command[1:3])
    return f"result {index + 1}"


def sources(results: Sequence[Result]) -> list[str]:
    """What each result is called in labels (``scenario storm``), numbered where alike."""
    names = [_source(result, i) for i, result in enumerate(results)]
    return [f"{src} #{i + 1}" if names.count(src) > 1 else src for i, src in enumerate(names)]


def distinct_names(results: Sequence[Result]) -> list[Result]:
    """Runs named alike in different results get their source (``scenario storm``) appended."""
    owners: dict[str, set[int]] = {}
    for i, result in enumerate(results):
        for run in result.runs:
            owners.setdefault(run.name, set()).add(i)
    names = sources(results)
    out = []
    for i, result in enumerate(results):
        runs = tuple(
            dataclasses.replace(run, name=f"{run.name} ({names[i]})")
            if len(owners[run.name]) > 1
            else run
            for run in result.runs
        )
        out.append(dataclasses.replace(result, runs=runs))
    return out


def _grid(n: int) -> tuple[int, int, tuple[float, float]]:
    if n == 1:
        return 1, 1, (11.0, 7.0)
    if n == 2:
        return 1, 2, (16.0, 6.5)
    if n <= 4:
        return 2, 2, (16.0, 11.0)
    return math.ceil(n / 3), 3, (21.0, 5.5 * math.ceil(n / 3))


def draw_figure(panels: Sequence[Panel], results: Sequence[Result], path: Path) -> list[str]:
    """Each panel on its own Axes of one figure, the servers as its title, saved as a PNG at
    ``path`` (never over an existing file); the panels' titles."""
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
