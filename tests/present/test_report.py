"""The text report: what its error lines say."""

from __future__ import annotations

import dataclasses
import re

from dbkit.model.pooler import PoolerSection
from dbkit.model.records import ErrorRecord
from dbkit.model.results import Result, Run
from dbkit.model.stats import LatencySummary
from dbkit.present.report import format_errors, format_result, format_table, no_success


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


def _pool(wall_s: float, p99: float, *errors: ErrorRecord, interrupted: bool = False) -> Run:
    """A pool run of 100 tasks x 3 queries: its wall time, p99 and errors."""
    failed = sum(e.tasks_ended for e in errors)
    return Run(
        strategy="pool", name="pool-5", params={"pool_size": 5}, tasks=100, ok=100 - failed,
        failed=failed, queries_ok=3 * (100 - failed), wall_s=wall_s, setup_s=0.1, ideal_s=2.0,
        latency_s=LatencySummary(p50=0.1, p90=0.2, p99=p99, max=p99), errors=errors,
        peak_connections=5, peak_server_connections=5, interrupted=interrupted,
    )  # fmt: skip


def _timeout(count: int) -> ErrorRecord:
    return ErrorRecord("TimeoutError", None, count, 0.1, 0.2, "timed out", count)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(" {2,}", line)]


def test_a_repeated_run_is_one_row_of_medians_with_their_range() -> None:
    runs = [_pool(2.5, 0.3), _pool(2.0, 0.2, _timeout(4)), _pool(3.0, 0.25)]
    header, rule, row = format_table(runs)
    assert header.split()[:3] == ["run", "runs", "tasks"]
    assert set(rule) == {"-", " "}
    cells = _cells(row)
    assert cells[:4] == ["pool-5", "3", "100", "100 (96-100)"]  # equal values: no range
    assert cells[4] == "0 (0-4)"  # failed
    assert cells[5] == "2.500 (2.000-3.000)"  # wall s
    assert cells[6] == "2.000"  # ideal s: the same in every repeat
    assert cells[8] == "120 (100-144)"  # q/s: 300/2.5, 288/2.0, 300/3.0
    assert cells[10] == "0.250 (0.200-0.300)"  # p99
    assert cells[11:13] == ["-", "-"]  # active peak and demand: not sampled here
    assert cells[13] == "5"  # peak conn
    assert cells[14] == "TimeoutError x0 (0-4)"  # errors: a median of each class's counts


def test_a_single_run_prints_as_before_beside_repeated_ones() -> None:
    alone = dataclasses.replace(_pool(2.0, 0.2), name="pool-9")
    plain = format_table([alone])
    assert plain[0].split()[:2] == ["run", "tasks"]  # no runs column without repeats
    mixed = format_table([alone, _pool(2.0, 0.2), _pool(2.2, 0.3)])
    assert [c for c in _cells(mixed[2])] == ["pool-9", "1", *_cells(plain[2])[1:]]
    assert _cells(mixed[3])[:2] == ["pool-5", "2"]


def test_a_repeat_cut_short_keeps_its_own_row_out_of_the_medians() -> None:
    runs = [_pool(2.0, 0.2), _pool(2.4, 0.4), _pool(0.5, 9.0, interrupted=True)]
    lines = format_result(Result({"event_loop": "asyncio", "cpu_count": 2}, tuple(runs), True))
    rows = [line for line in lines if line.startswith("pool-5")]
    assert _cells(rows[0])[:2] == ["pool-5", "2"]
    assert _cells(rows[0])[10] == "0.300 (0.200-0.400)"  # the interrupted 9.0 left out
    assert _cells(rows[1])[:2] == ["pool-5 (interrupted)", "1"]
    assert any(
        line.startswith("runs repeated: each figure is the median (min-max)") for line in lines
    )


def test_lines_about_one_repeat_say_which() -> None:
    runs = [_pool(2.0, 0.2, _timeout(1)), _pool(2.0, 0.2), _pool(2.0, 0.2, _timeout(2))]
    assert [line.split(":")[0] for line in format_errors(runs)] == ["pool-5 #1", "pool-5 #3"]
    assert format_errors(runs[:1])[0].startswith("pool-5: 1 x - TimeoutError")


def test_notes_about_one_repeat_say_which() -> None:
    broken = dataclasses.replace(_pool(1.0, 0.1, _timeout(100)), latency_s=LatencySummary())
    meta = {"event_loop": "asyncio", "cpu_count": 2}
    assert no_success(Result(meta, (_pool(1.0, 0.1), broken))) == (
        "no task succeeded in pool-5 #2 (TimeoutError x100)"
    )
    assert no_success(Result(meta, (broken,))) == "no task succeeded in pool-5 (TimeoutError x100)"


def test_the_table_shows_each_runs_active_peak_and_p99_and_its_demand() -> None:
    from dbkit.present.report import format_table
    from tests.helpers import sample_result

    header, _, storm, pool = format_table(sample_result().runs)
    assert "active pk/p99" in header and "demand" in header.split()
    # the storm's own connections: at most 91 active, p99 90.1; 23.04 busy on average
    assert storm.split()[10:13] == ["91/90.1", "23.0", "91"]
    assert pool.split()[10:12] == ["-", "-"]  # a run without a monitor's states: unknown
