"""Measuring commands' output: the progress bars, then the result kept, printed and judged."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dbkit.cli.common import err, fail, interrupt_code, say
from dbkit.cli.gate import Gate
from dbkit.cli.options import OutputOptions
from dbkit.engine import interrupts
from dbkit.engine.status import Status
from dbkit.model.results import Result
from dbkit.present.report import format_notes, format_result, no_success
from dbkit.store.files import check_writable
from dbkit.store.results import check_result_path, default_path, keep_result


class ProgressDisplay:
    """A progress bar per run on stderr, refreshed by rich's own timer."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress = Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=err,
            disable=not enabled,
        )
        self._tasks: dict[int, Any] = {}
        self._started = False

    def __enter__(self) -> ProgressDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._started:  # a display never started leaves no blank line above an error
            self._progress.stop()

    def __call__(self, index: int, name: str, status: Status) -> None:
        task = self._tasks.get(index)
        if task is None:
            if not self._started:  # started with the first run, not before
                self._progress.start()
                self._started = True
            task = self._tasks[index] = self._progress.add_task(
                name, total=int(status.total), counts=""
            )
        self._progress.update(task, completed=int(status.done), counts=status_counts(status))


def status_counts(status: Status) -> str:
    """``ok 180  failed 20  conns 96``: the progress line's counts (conns once sampled)."""
    counts = f"ok {status.ok:,}  failed {status.failed:,}"
    return counts if status.connections is None else f"{counts}  conns {status.connections}"


def save_and_show(
    measure: Callable[[ProgressDisplay], Result],
    *,
    stem: str,
    output: OutputOptions,
    title: str,
    plot: bool = False,
    formatter: Callable[[Result], list[str]] | None = None,
    gate: Gate | None = None,
) -> Result:
    """Run ``measure`` with a progress display, keep its result where ``output`` says, then
    print it.

    The exit code says how it went: 130/143 when interrupted (the partial result is kept), 1
    when the result had to be saved elsewhere or no task of some run succeeded.
    """
    out, results_dir, as_json = output.out, output.results_dir, output.as_json
    path = out or default_path(stem, results_dir)
    check_result_path(path, plot)  # before the run: no time spent on what cannot be kept
    started = time.perf_counter()
    gate = gate or Gate()
    with ProgressDisplay(enabled=True) as progress:
        result = measure(progress)
    interrupts.hold()  # a signal from here on must not cost the result: it is only counted
    result = gate.judge(result)
    path, problem = keep_result(result, path, stem, results_dir if out is None else None)
    verdict = gate.lines(result)  # the verdict comes first
    if as_json:
        for line in verdict:
            say(line)
        sys.stdout.write(result.dumps())
    else:
        lines = formatter(result) if formatter else format_result(result, title=title)
        for line in [*verdict, *([""] if verdict else []), *lines]:
            typer.echo(line)
    if problem:
        fail(problem, 1)
    junit = gate.write(result)
    for note in format_notes(result):
        say(note)
    say(f"result: {path} ({time.perf_counter() - started:.1f} s in all)")
    if junit is not None:
        say(f"junit: {junit}")
    if result.interrupted or interrupts.count():
        say(f"interrupted: the partial result was kept in {path}")
        raise typer.Exit(interrupt_code())
    if plot:
        plot_to([result], path.with_suffix(".png"))
    nothing = no_success(result)
    if gate.checks:  # the checks decide: 0 all passed, 3 one failed
        if nothing:
            say(f"{nothing}; the result was kept in {path}")
        code = gate.exit_code(result, 0)
        if code:
            raise typer.Exit(code)
        return result
    if nothing:  # said in full: with --json, no table stands above it
        fail(f"{nothing}; the result was kept in {path}", 1)
    return result


def plot_to(results: list[Result], path: Path) -> None:
    """Write the PNG of ``results`` (never over a file) and say which panels it has."""
    from dbkit.present.plot import plot_results  # matplotlib: only when a plot is asked for

    check_writable(path)
    panels = plot_results(results, path)
    say(f"plot: {path} ({', '.join(panels)})")
