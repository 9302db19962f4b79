"""The text report: what its error lines say."""

from __future__ import annotations

import dataclasses

from dbkit.model.pooler import PoolerSection
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Result, Run
from dbkit.model.stats import LatencySummary
from dbkit.present.report import format_errors, format_result


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


def test_a_run_through_a_pooler_says_so_in_its_row_its_errors_and_the_header() -> None:
    refused = ErrorRecord("asyncpg.exceptions.ProtocolViolationError", "08P01", 4, 0.0, 0.1, "x", 4)
    section = PoolerSection("pgbouncer", "transaction", ((0.0, 30, 10, 20, 0, 0.25),))
    pooled = dataclasses.replace(
        _run(refused), name="storm", pooler=section, peak_connections=0,
        peak_server_connections=21,
    )  # fmt: skip
    direct = dataclasses.replace(_run(), name="storm")
    meta = {
        "backend": "embedded", "server_version": "16.4", "max_connections": 100,
        "event_loop": "asyncio", "cpu_count": 2,
        "pooler": {"kind": "pgbouncer", "version": "1.18.0", "settings": {
            "pool_mode": "transaction", "default_pool_size": "20", "max_client_conn": "1001"}},
    }  # fmt: skip
    lines = format_result(Result(meta, (direct, pooled)))
    assert lines[0].endswith(
        "; runs marked via pgbouncer went through PgBouncer 1.18.0 (transaction mode, pool 20, "
        "max_client_conn 1001)"
    )
    rows = [line for line in lines if line.startswith("storm")]
    assert rows[1].endswith("server 21  08P01 x4")  # the server's count, not the tag's
    assert rows[0].startswith("storm ") and rows[1].startswith("storm via pgbouncer ")
    errors = "  storm via pgbouncer: 4 x 08P01 asyncpg.exceptions.ProtocolViolationError ("
    assert any(line.startswith(errors) for line in lines)
    assert any(
        "storm via pgbouncer: clients active 30, waiting 10; server connections active 20" in line
        for line in lines
    )
    assert "via" not in format_result(Result({**meta, "pooler": None}, (direct,)))[0]


def test_the_table_shows_each_runs_active_peak_and_p99_and_its_demand() -> None:
    from dbkit.present.report import format_table
    from tests.helpers import sample_result

    header, _, storm, pool = format_table(sample_result().runs)
    assert "active pk/p99" in header and "demand" in header.split()
    # the storm's own connections: at most 91 active, p99 90.1; 23.04 busy on average
    assert storm.split()[10:13] == ["91/90.1", "23.0", "91"]
    assert pool.split()[10:12] == ["-", "-"]  # a run without a monitor's states: unknown
