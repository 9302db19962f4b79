"""A pool-budget plan as text: the per-service table, the budget's breakdown, the verdict."""

from __future__ import annotations

from dataclasses import replace

from dbkit.model.plan import SERVER, Load, Plan
from dbkit.model.pooler import PoolerSpec
from dbkit.present.tables import align


def format_plan(plan: Plan) -> list[str]:
    """Text lines: a per-service table, totals, the budget's breakdown and the verdict."""
    header = ("service", "replicas", "workers", "pool", "overflow", "driver", "steady", "peak")
    rows = [
        (
            s.name,
            str(s.replicas),
            str(s.workers),
            str(s.pool_size),
            str(s.max_overflow),
            s.driver,
            str(s.steady),
            str(s.peak),
        )
        for s in plan.services
    ]
    rows.append(("total", "", "", "", "", "", str(plan.total_steady), str(plan.total_peak)))
    b = plan.budget
    lines = [*align(header, rows, left=(0, 5)), ""]  # names and drivers read left to right
    lines.append(
        f"budget: {b.max_connections} max_connections - {b.superuser_reserved} superuser_reserved"
        f" - {b.reserved} reserved - {b.headroom} headroom - {b.in_use} in use"
        f" = {b.available} available"
    )
    if plan.pooler is not None:
        lines.extend(_pooler_lines(plan, plan.pooler))
    elif plan.fits:
        lines.append(f"fits: {plan.total_peak} of {b.available} available")
    else:
        lines.append(
            f"OVER by {plan.over_by}: peak {plan.total_peak} > {b.available} available;"
            f" largest per-worker pool_size + max_overflow that fits:"
            f" {plan.max_pool_per_worker}{_pool_sizes(plan)}"
        )
    surge = plan.surge_load
    if plan.scale_to is not None and surge is not None:
        peak = surge.clients
        verdict = _surge_verdict(surge)
        if all(plan.scale_to < s.replicas for s in plan.services):
            # Every service keeps its pods until the new ones run: the peak is today's.
            lines.append(f"scale-down to {plan.scale_to} replicas: no surge, peak {peak} as now "
                         f"({verdict})")  # fmt: skip
        else:
            lines.append(f"surge to {plan.scale_to} replicas: peak {peak}, {verdict}")
    return lines


def _pool_sizes(plan: Plan) -> str:
    """`` (api: pool_size 77 + max_overflow 20)`` for services with an overflow, else ''."""
    parts = []
    for s in plan.services:
        if not s.max_overflow:
            continue
        size = plan.max_pool_size(s)
        if size >= 1:
            parts.append(f"{s.name}: pool_size {size} + max_overflow {s.max_overflow}")
        else:
            parts.append(f"{s.name}: max_overflow {s.max_overflow} alone is more")
    return f" ({', '.join(parts)})" if parts else ""


def _pooler_lines(plan: Plan, pooler: PoolerSpec) -> list[str]:
    """The pooler's arithmetic, both of its checks, which limit breaks first, and what fits."""
    p, load, available = pooler, plan.load, plan.budget.available
    sums = [
        f"{p.databases} databases x {p.users} users = {p.pools} pools x ({p.pool_size} + "
        f"{p.reserve_pool_size} reserve) = {p.pools * (p.pool_size + p.reserve_pool_size)}"
    ]
    if p.max_db_connections:
        sums.append(f"max_db_connections {p.max_db_connections} x {p.databases} = "
                    f"{p.databases * p.max_db_connections}")  # fmt: skip
    if p.max_user_connections:
        sums.append(f"max_user_connections {p.max_user_connections} x {p.users} = "
                    f"{p.users * p.max_user_connections}")  # fmt: skip
    per_client = (
        f" (one per client it lets in; it may open {p.server_connections})"
        if load.server < p.server_connections
        else ""
    )
    lines = [
        f"pooler: {p.kind}, {p.pool_mode} mode: {', '.join(sums)}: "
        f"at most {p.server_connections} server connections",
        f"clients: peak {load.clients} of max_client_conn {p.client_limit}"
        + (f" (OVER by {load.client_over_by}: refused with 08P01)" if load.client_over_by else ""),
        f"server: the pooler's peak {load.server}{per_client} of {available} available"
        + (f" (OVER by {load.server_over_by})" if load.server_over_by else ""),
    ]
    if load.session_waits:
        lines.append(f"note: session mode: {load.session_waits} of the {load.accepted} clients "
                     f"wait for one of the {p.server_connections} server connections while the "
                     "others stay connected (query_wait_timeout, then 08P01)")  # fmt: skip
    size = f"per-worker pool_size + max_overflow at most {plan.max_pool_per_worker}"
    cap = plan.max_db_connections_that_fits
    capped = (
        f"max_db_connections = {cap} (the pooler at most "
        f"{replace(p, max_db_connections=cap).server_connections})"
        if cap
        else "no max_db_connections (the budget leaves no server connection)"
    )
    if load.fits:
        lines.append(f"fits: {load.clients} clients of max_client_conn {p.client_limit}, "
                     f"{load.server} server connections of {available} available")  # fmt: skip
        if p.server_connections > available:
            lines.append(f"note: the pooler may open {p.server_connections} server connections, "
                         f"more than the {available} available: past {available} clients the "
                         f"server breaks; {capped} keeps it within")  # fmt: skip
    elif load.breaks_first == SERVER:
        also = (
            f" (max_client_conn too: {load.clients} clients > {p.client_limit})"
            if load.client_over_by
            else ""
        )
        lines.append(f"OVER: the server breaks first, at {available + 1} clients: the pooler's "
                     f"{load.server} server connections > {available} available{also}")  # fmt: skip
        lines.append(f"to fit: {capped}, or {size}")
    else:
        lines.append(f"OVER: max_client_conn breaks first, at {p.client_limit + 1} clients: "
                     f"{load.clients} > {p.client_limit} (the server's side fits)")  # fmt: skip
        lines.append(f"to fit: max_client_conn = {load.clients}, or {size}{_pool_sizes(plan)}")
    return lines


def _surge_verdict(load: Load) -> str:
    if load.fits:
        return "fits"
    if load.pooler is None:
        return f"OVER by {load.server_over_by}"
    if load.breaks_first == SERVER:
        over = f"server connections {load.server}, OVER by {load.server_over_by}"
        return f"OVER: the server breaks first ({over})"
    return f"OVER: max_client_conn breaks first ({load.clients} clients, OVER by " + (
        f"{load.client_over_by})"
    )
