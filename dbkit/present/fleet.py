"""A fleet result as text: the per-service table, totals, budget against peak, the verdict."""

from __future__ import annotations

from dbkit.model.fleet import FleetSection, ServiceFigures
from dbkit.model.results import Result
from dbkit.present.report import peak_cell
from dbkit.present.rightsize import format_advice
from dbkit.present.tables import align


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}"


def format_fleet(result: Result) -> list[str]:
    """Text lines: a per-service table, totals, budget against peak, and the verdict."""
    fleet = result.fleet
    if fleet is None:
        return ["not a fleet result"]
    # "workers": the simulated worker processes (replicas x workers), each with its pool; the
    # OS processes that simulate them (--procs) are a different, smaller number.
    header = ("service", "workers", "planned", "ok", "failed", "qps", "p99 ms", "wait p99 ms",
              "timeouts", "errors")  # fmt: skip

    def figures(d: ServiceFigures | FleetSection) -> tuple[str, ...]:  # a service's, or all
        return (
            str(d.ok), str(d.failed), f"{d.throughput_qps:.0f}", _ms(d.p99_s),
            _ms(d.acquire_wait_p99_s),
        )  # fmt: skip

    services = fleet.services
    rows = [
        (
            s.name,
            str(s.processes),
            str(s.planned_peak),
            *figures(s),
            str(s.pool_timeouts),
            ", ".join(f"{k} x{v}" for k, v in s.errors_by_sqlstate.items()) or "-",
        )
        for s in services
    ]
    rows.append(
        (
            "total",
            str(sum(s.processes for s in services)),
            str(fleet.total_peak_planned),
            *figures(fleet),
            str(sum(s.pool_timeouts for s in services)),
            "",
        )
    )
    lines = [*align(header, rows, left=(0, len(header) - 1)), ""]
    if fleet.advice:  # the pools against what the services used, before the verdict
        lines += [*format_advice(fleet.advice), ""]
    planned = "fits" if fleet.fits_plan else "OVER"
    measured = peak_cell(fleet.peak_connections, fleet.peak_server_connections)
    lines.append(
        f"budget {fleet.budget} of max_connections {fleet.max_connections}: "
        f"planned peak {fleet.total_peak_planned} ({planned}), measured peak {measured}"
    )
    fault = fleet.fault
    asked = result.runs[0].params.get("fault") if result.runs else None
    if fault:
        recovery = fault.recovery_s
        lines.append(
            f"fault: {fault.kind} at {fault.at_s:.2f} s (took {fault.action_s:.2f} s), "
            + (f"first success {recovery:.2f} s after it" if recovery is not None
               else "no success after it")
        )  # fmt: skip
    elif asked and not result.interrupted:
        lines.append(f"fault: {asked} never fired: the fleet ended first")
    first = fleet.first_failure
    if first is None:
        lines.append("clean: no task failed")
    else:
        what = first.sqlstate or first.type or "error"
        lines.append(
            f"FAILED: first failure in service {first.service} at {first.at_s:.2f} s: {what}"
        )
    if result.interrupted and result.runs:
        lines.insert(-1, f"INTERRUPTED after {result.runs[0].wall_s:.2f} s: figures so far")
    return lines
