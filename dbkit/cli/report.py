"""``dbkit report``: result files as tables again; as a plot or CSV on request."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dbkit.cli.common import guarded, say
from dbkit.cli.output import plot_to
from dbkit.model.results import Result
from dbkit.present.document import format_document
from dbkit.store.files import check_writable
from dbkit.store.results import read_result


def report(
    files: Annotated[list[Path], typer.Argument(help="Result files to show.", show_default=False)],
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write a PNG of the runs (never overwritten).", show_default=False
        ),
    ] = None,
    csv: Annotated[
        Path | None,
        typer.Option(
            "--csv", help="Write one CSV row per run (never overwritten).", show_default=False
        ),
    ] = None,
) -> None:
    """Print the tables of result files again; plot them or export them as CSV."""

    def go() -> None:
        results: list[tuple[Path, Result]] = [(f, read_result(f)) for f in files]
        for target in (csv, plot):
            if target is not None:
                check_writable(target)
        for i, (path, result) in enumerate(results):
            if i:
                typer.echo("")
            for line in format_document(result, str(path)):
                typer.echo(line)
        if csv is not None:
            from dbkit.present.export import write_csv

            say(f"csv: {write_csv(results, csv)}")
        if plot is not None:
            plot_to([result for _, result in results], plot)

    guarded(go)
