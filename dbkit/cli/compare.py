"""``dbkit compare``: two result files, run by run, and gates against the base."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.common import guarded, say
from dbkit.cli.gate import CHECK_FAILED
from dbkit.model.checks import parse_checks
from dbkit.model.compare import Comparison
from dbkit.model.compare import compare as compare_results
from dbkit.present.compare import format_comparison, format_gates
from dbkit.store.files import check_writable
from dbkit.store.results import read_result


def compare(
    base: Annotated[Path, typer.Argument(help="The result to compare against (before).")],
    new: Annotated[Path, typer.Argument(help="The result to judge (after).")],
    check: Annotated[
        list[str] | None,
        typer.Option(
            "--check",
            help="A gate on NEW, against BASE where it says base: 'qps>=0.95*base', "
            "'p99<=1.1*base', 'errors[53300]<=base', 'RUN.wait_p99<=1.2*base', or a plain "
            "threshold ('p99<0.5'); repeatable. Exit 3 when one fails.",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Write a PNG of both side by side (never overwritten).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the comparison as JSON on stdout, nothing else.")
    ] = False,
) -> None:
    """Compare two result files: per run (matched by name) and figure, NEW/BASE and whether
    the difference is outside the spread of repeated runs or only noise."""

    def go() -> Comparison:
        checks = parse_checks(check or (), base=True)  # refused before any file is read
        if plot is not None:
            check_writable(plot)
        before, after = read_result(base), read_result(new)
        comparison = compare_results(before, after, checks, str(base), str(new))
        if as_json:
            for line in format_gates(comparison.checks):
                say(line)
            sys.stdout.write(json.dumps(comparison.to_dict(), indent=2) + "\n")
        else:
            for line in format_comparison(comparison):
                typer.echo(line)
        if plot is not None:
            from dbkit.present.plot.versus import plot_compare  # matplotlib: only when asked

            panels = plot_compare(comparison, [before, after], plot)
            say(f"plot: {plot} ({', '.join(panels)})")
        return comparison

    if not guarded(go).passed:
        raise typer.Exit(CHECK_FAILED)
