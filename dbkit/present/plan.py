"""A pool-budget plan as text: the per-service table, the budget's breakdown, the verdict."""

from __future__ import annotations

from dbkit.model.plan import Plan
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
    if plan.fits:
        lines.append(f"fits: {plan.total_peak} of {b.available} available")
    else:
        lines.append(
            f"OVER by {plan.over_by}: peak {plan.total_peak} > {b.available} available;"
            f" largest per-worker pool_size + max_overflow that fits:"
            f" {plan.max_pool_per_worker}{_pool_sizes(plan)}"
        )
    if plan.scale_to is not None:
        peak = plan.surge_peak or 0
        verdict = "fits" if plan.surge_fits else f"OVER by {peak - b.available}"
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
