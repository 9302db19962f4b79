"""PgBouncer in the path: what it adds per query, and the kit through it against pgbench.

The same asyncpg pool runs SELECT 1 on the bench's server directly and through a PgBouncer the
bench starts in front of it (session mode), alternating, so that drifting machine load falls on
both alike. Then pgbench -M simple runs through the same PgBouncer, before and after, with the
pool's client count: asyncpg's ``execute`` of a statement without arguments uses the simple
query protocol too, so both send the same messages. A machine without a pgbouncer binary
gets rows that say so.
"""

from __future__ import annotations

import statistics
from typing import Any

from rows import (
    QPS_QUERIES_PER_TASK,
    SELECT1,
    BenchError,
    Goal,
    Row,
    Settings,
    bracketed_pgbench,
    say,
    work,
)

from dbkit.model.errors import ConfigError, ServerError
from dbkit.model.pooler import PoolerSpec
from dbkit.servers.embedded import EmbeddedServer
from dbkit.servers.pgbouncer import PgBouncer, Upstream

POOL_SIZE = 10
LOOP = "asyncio"
US = 1e6  # microseconds per second


def pgbouncer_rows(server: EmbeddedServer, cfg: Settings) -> list[Row]:
    """The three PgBouncer rows; each says "not measured" when PgBouncer cannot run here."""
    say("8. PgBouncer in the path")
    added = Row("pgbouncer", "PgBouncer: latency per SELECT 1, 1 client", "us",
                Goal("none", "<=", 0.0, "-"))  # fmt: skip
    share = Row("pgbouncer", f"PgBouncer: SELECT 1 qps kept, pool {POOL_SIZE}", "q/s",
                Goal("none", ">=", 0.0, "-"))  # fmt: skip
    versus = Row("pgbouncer", f"SELECT 1 qps via PgBouncer, pool {POOL_SIZE}", "q/s",
                 Goal("ratio", ">=", 0.6, ">= 0.6x pgbench -M simple"))  # fmt: skip
    rows = [added, share, versus]
    # Session mode: one server connection per client connection, as direct; a little room
    # over the pool so that no client waits while PgBouncer replaces a connection.
    spec = PoolerSpec(pool_mode="session", pool_size=POOL_SIZE + 2, max_client_conn=100)
    try:
        with PgBouncer(spec, Upstream.from_dsn(server.app_dsn)) as pooler:
            _measure(rows, server, pooler, cfg)
    except (ServerError, ConfigError, BenchError, OSError) as exc:
        for row in rows:
            if row.kit is None:
                row.note = f"not measured: {exc}"
    for row in rows:
        say(f"  {row.name}: kit {row.kit} ref {row.reference} {row.note}")
    return rows


def _job(dsn: str, server: EmbeddedServer, size: int, tasks: int) -> dict[str, Any]:
    spec = {"strategy": "pool", "pool_size": size, "sql": SELECT1, "tasks": tasks,
            "queries": QPS_QUERIES_PER_TASK, "commit": True}  # fmt: skip
    return {"kind": "run", "loop": LOOP, "app_dsn": dsn, "admin_dsn": server.admin_dsn,
            "spec": spec}  # fmt: skip


def per_query_us(run: dict[str, Any]) -> float | None:
    """A query's time on its connection: the task's p50 service time (holding the connection
    for its 100 statements) over the statements, in microseconds."""
    p50 = run["service_s"]["p50"]
    return None if p50 is None else p50 / QPS_QUERIES_PER_TASK * US


def _alternating(
    server: EmbeddedServer, pooler: PgBouncer, size: int, tasks: int, repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """The same run direct and through PgBouncer, ``repeats`` times each, alternating: direct
    first in even repeats, PgBouncer first in odd ones, so drifting load falls on both alike."""
    routes = {"direct": server.app_dsn, "pgbouncer": pooler.app_dsn}
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "pgbouncer": []}
    for i in range(repeats):
        for route in ("direct", "pgbouncer") if i % 2 == 0 else ("pgbouncer", "direct"):
            run = work(_job(routes[route], server, size, tasks))
            for series in ("server_connections", "connections", "pooler"):
                run.pop(series, None)
            runs[route].append(run)
    return runs


def _figures(runs: dict[str, list[dict[str, Any]]], size: int) -> dict[str, Any]:
    """Per route: per-query p50 service time, wall per query per client (us), and qps; and the
    per-repeat differences of the per-query time (PgBouncer minus direct)."""
    out: dict[str, Any] = {}
    for route, some in runs.items():
        out[route] = {
            "per_query_us": [v for v in map(per_query_us, some) if v is not None],
            "wall_per_query_per_client_us": [
                r["wall_s"] / r["queries_ok"] * size * US for r in some if r["queries_ok"]
            ],
            "qps": [r["throughput_qps"] for r in some],
            "ok": [f"{r['ok']}/{r['tasks']}" for r in some],
            "errors": [r["errors"] for r in some],
        }
    pairs = zip(out["direct"]["per_query_us"], out["pgbouncer"]["per_query_us"], strict=False)
    out["added_us"] = [p - d for d, p in pairs]
    return out


def _measure(rows: list[Row], server: EmbeddedServer, pooler: PgBouncer, cfg: Settings) -> None:
    added, share, versus = rows
    assert pooler.info is not None
    repeats = max(cfg.repeats, 3)
    # one client: a query's round trip, which PgBouncer lengthens by its hop (50 x 100 serial
    # statements, full); ten: the qps row's run (300 x 100), where CPU is shared as well
    serial_tasks, pool_tasks = max(cfg.calibration_tasks // 6, 8), cfg.calibration_tasks
    serial = _alternating(server, pooler, 1, serial_tasks, repeats)
    finish = bracketed_pgbench(
        server, POOL_SIZE, cfg.duration_s, False, [versus],
        protocol="simple", port=pooler.port, password=pooler.upstream.password,
        database=pooler.upstream.database,
    )  # fmt: skip
    pooled = _alternating(server, pooler, POOL_SIZE, pool_tasks, repeats)
    finish()
    one, ten = _figures(serial, 1), _figures(pooled, POOL_SIZE)
    common = {
        "statistic": f"median of {repeats} alternating fresh-process runs per route",
        "pooler": pooler.info.as_metadata(),
        "queries_per_task": QPS_QUERIES_PER_TASK,
    }
    lat_d, lat_p, diffs = (
        one["direct"]["per_query_us"],
        one["pgbouncer"]["per_query_us"],
        one["added_us"],
    )
    if lat_d and lat_p:
        added.kit, added.reference = statistics.median(lat_p), statistics.median(lat_d)
        added.ratio = added.kit / added.reference if added.reference else None
        added.note = (
            f"PgBouncer adds {statistics.median(diffs):.0f} us per query, 1 client ("
            f"{min(diffs):.0f} to {max(diffs):.0f} over {len(diffs)} repeats; p50 service "
            f"time / {QPS_QUERIES_PER_TASK} statements); best runs: {min(lat_p):.0f} us "
            f"through, {min(lat_d):.0f} direct; at pool {POOL_SIZE}: "
            f"{_median(ten['added_us'])} us"
        )
    added.raw = {**common, "tasks": serial_tasks, "pool_size": 1, **one}
    qps_d, qps_p = ten["direct"]["qps"], ten["pgbouncer"]["qps"]
    share.kit, share.reference = statistics.median(qps_p), statistics.median(qps_d)
    share.ratio = share.kit / share.reference if share.reference else None
    share.note = (
        f"through PgBouncer / direct; through {min(qps_p):,.0f}-{max(qps_p):,.0f}, "
        f"direct {min(qps_d):,.0f}-{max(qps_d):,.0f} q/s over {repeats} repeats"
    )
    share.raw = {**common, "tasks": pool_tasks, "pool_size": POOL_SIZE, **ten}
    versus.kit = share.kit
    if versus.reference:
        versus.ratio = versus.kit / versus.reference
        tps = [r["tps"] for r in versus.raw["pgbench"]]
        versus.note = (
            f"the kit's runs of the row above through PgBouncer; pgbench -M simple -c "
            f"{POOL_SIZE} through it before and after: " + ", ".join(f"{t:,.0f}" for t in tps)
        )
    versus.raw["kit_qps"] = qps_p


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"
