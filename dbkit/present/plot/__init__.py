"""Result documents as one PNG: each panel is a ``plot_*`` function drawing on one Axes.

``plot_results`` picks the panels the runs call for (a sweep, a storm, the sleep baseline, a
fleet, else a plain comparison, then each run's timeline), one module each; ``canvas`` holds
what they share and draws the figure. matplotlib is imported lazily, so importing dbkit never
needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

from dbkit.model.errors import ConfigError
from dbkit.model.results import Result
from dbkit.present.plot.activity import plot_activity, timeline_runs
from dbkit.present.plot.canvas import (
    Limits,
    Panel,
    distinct_names,
    draw_figure,
    sqlstate_label,
)
from dbkit.present.plot.comparison import plot_comparison
from dbkit.present.plot.fleet import plot_fleet
from dbkit.present.plot.sleep import plot_sleep
from dbkit.present.plot.storm import STORM_STRATEGIES, plot_storm_errors
from dbkit.present.plot.sweep import SweepSeries, plot_sweep, sweep_series
from dbkit.present.plot.timeline import plot_timeline
from dbkit.present.report import repeat_marks

__all__ = [
    "Limits",
    "SweepSeries",
    "choose_panels",
    "plot_activity",
    "plot_comparison",
    "plot_fleet",
    "plot_results",
    "plot_sleep",
    "plot_storm_errors",
    "plot_sweep",
    "plot_timeline",
    "sqlstate_label",
    "sweep_series",
]


def choose_panels(results: Sequence[Result]) -> list[Panel]:
    """The panels these results call for, in reading order; empty when nothing can be drawn."""
    results = distinct_names(results)
    runs = [run for result in results for run in result.runs]
    limits = Limits.of(results)
    panels: list[Panel] = []
    covered: set[int] = set()

    series = sweep_series(results)
    if series:
        panels.append(lambda ax: plot_sweep(ax, series))
        covered.update(id(r) for s in series for r in s.runs)

    storm = [r for r in runs if r.strategy in STORM_STRATEGIES]
    if storm:
        panels.append(lambda ax: plot_storm_errors(ax, storm))
        covered.update(id(r) for r in storm)
        timed = [r for r in storm if r.connection_samples]
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

    # What happened when: each run's timeline (not a sweep's grid: its curve says it)
    swept = {id(r) for res in results if res.sweep for r in res.sweep.own_runs(res.runs)}
    fleets = {id(r): res.fleet for res in results if res.fleet for r in res.runs}
    marks = {id(run): mark for run, mark in zip(runs, repeat_marks(runs), strict=True)}
    for run in timeline_runs([r for r in runs if id(r) not in swept]):
        fleet = fleets.get(id(run))
        panels.append(
            functools.partial(
                plot_activity, run=run, limits=limits, fleet=fleet, mark=marks[id(run)]
            )
        )
    return panels


def plot_results(results: Sequence[Result], path: Path) -> list[str]:
    """Draw what the results call for into one PNG at ``path``; return the panels' titles.

    Raises ConfigError when nothing in the results can be plotted, ResultExistsError when
    ``path`` exists (a plot is never overwritten).
    """
    panels = choose_panels(results)
    if not panels:
        raise ConfigError("nothing to plot: the results hold no runs and no fleet")
    return draw_figure(panels, results, path)
