"""Right-sizing advice as text: per service what its pools hold, what was active, the pool
that serves the load (dbkit.model.rightsize), then the change to the deploy file as TOML."""

from __future__ import annotations

from collections.abc import Sequence

from dbkit.model.rightsize import Advice


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_advice(advice: Sequence[Advice]) -> list[str]:
    """Text lines: the rule, one line per service, then the TOML to paste into the deploy
    file (nothing when there is no advice)."""
    if not advice:
        return []
    margin = advice[0].margin
    lines = [
        f"right-sizing: per-worker pool K = ceil(max(active p99, demand) / workers x "
        f"(1 + {margin:g})), at least 1",
        "  (active: the service's connections running a statement; demand: tasks/s x mean "
        "service time)",
    ]
    for a in advice:
        pools = f"{a.processes} x {a.measured_pool} = {a.processes * a.measured_pool}"
        if a.advised is None:
            lines.append(f"  {a.service}: pools hold {pools}; not measured (no active "
                         "connections sampled): no advice")  # fmt: skip
            continue
        verdict = f"a per-worker pool of {a.advised} serves this load with {margin:.0%} spare"
        if a.saturated:
            verdict += " (saturated: every connection was active at the peak, so the load may "
            verdict += "want more; measure with fewer requests or a larger pool)"
        lines.append(
            f"  {a.service}: pools hold {pools}, at most {a.active_peak} active (p99 "
            f"{_num(a.active_p99)}), demand {_num(a.demand)}: {verdict}"
        )
    lines.append("change to the deploy file:")
    for a in advice:
        lines.extend(a.toml_lines())
    return lines
