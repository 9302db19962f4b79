"""The text report: what its error lines say."""

from __future__ import annotations

from dbkit.model.records import ErrorRecord
from dbkit.model.results import Run
from dbkit.model.stats import LatencySummary
from dbkit.present.report import format_errors


def _run(*errors: ErrorRecord) -> Run:
    return Run(
        strategy="psycopg", name="psycopg-12", params={}, tasks=30, ok=0, failed=30,
        queries_ok=0, wall_s=1.0, setup_s=0.1, ideal_s=0.3, latency_s=LatencySummary(),
        errors=errors,
    )  # fmt: skip


def test_an_error_without_a_sqlstate_from_the_driver_says_so_plainly() -> None:
    refused = ErrorRecord("psycopg.OperationalError", None, 18, 0.0, 2.1, "connection failed", 0)
    timeout = ErrorRecord("psycopg_pool.PoolTimeout", None, 3, 1.0, 2.0, "couldn't get", 3)
    server = ErrorRecord("psycopg.errors.QueryCanceled", "57014", 2, 0.5, 0.6, "canceling", 2)
    lines = format_errors([_run(refused, timeout, server)])
    assert lines[0].startswith("psycopg-12: 18 x - psycopg.OperationalError ")
    assert "the driver did not report a SQLSTATE" in lines[0]
    # The pool's own timeout is no server error, and a server error has its code: no such note.
    assert "did not report" not in lines[1] and "did not report" not in lines[2]
    assert lines[2].startswith("psycopg-12: 2 x 57014 psycopg.errors.QueryCanceled ")
