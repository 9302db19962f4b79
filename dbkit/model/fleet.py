"""A fleet's section of a result: the fleet's totals, its budget, and each service's figures.

Read from and written to the document's ``fleet`` key (dbkit.result/1), key for key as the
format history in model/results.py describes; older files lack some keys and read back with
them unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from dbkit.model.faults import FaultRecord
from dbkit.model.records import ErrorRecord
from dbkit.model.rightsize import Advice


@dataclass(frozen=True)
class ServiceFigures:
    """One service of the fleet: its simulated workers, planned peak and what they did."""

    name: str
    processes: int  # simulated worker processes (replicas x workers), each with its pool
    planned_peak: int
    ok: int
    failed: int
    throughput_qps: float
    p99_s: float | None
    acquire_wait_p99_s: float | None
    errors_by_sqlstate: dict[str, int]  # by SQLSTATE, or by type for errors without one
    pool_timeouts: int
    # right-sizing (dbkit.model.rightsize), the service's run's: null in older files
    active_peak: int | None = None
    active_p99: float | None = None
    demand: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "processes": self.processes,
            "planned_peak": self.planned_peak,
            "ok": self.ok,
            "failed": self.failed,
            "throughput_qps": self.throughput_qps,
            "p99_s": self.p99_s,
            "acquire_wait_p99_s": self.acquire_wait_p99_s,
            "errors_by_sqlstate": dict(self.errors_by_sqlstate),
            "pool_timeouts": self.pool_timeouts,
            "active_peak": self.active_peak,
            "active_p99": self.active_p99,
            "demand": self.demand,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceFigures:
        return cls(
            name=data["name"],
            processes=data["processes"],
            planned_peak=data["planned_peak"],
            ok=data["ok"],
            failed=data["failed"],
            throughput_qps=data["throughput_qps"],
            p99_s=data["p99_s"],
            acquire_wait_p99_s=data["acquire_wait_p99_s"],
            errors_by_sqlstate=dict(data["errors_by_sqlstate"]),
            pool_timeouts=data["pool_timeouts"],
            active_peak=data.get("active_peak"),
            active_p99=data.get("active_p99"),
            demand=data.get("demand"),
        )


@dataclass(frozen=True)
class FirstFailure:
    """Where the fleet failed first: the service, the error's class, seconds into the fleet."""

    service: str
    sqlstate: str | None
    type: str | None
    at_s: float

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"service": self.service, "sqlstate": self.sqlstate}
        if self.type is not None:  # files from before it lack the type
            out["type"] = self.type
        out["at_s"] = self.at_s
        return out


@dataclass(frozen=True)
class FleetSection:
    """The fleet's totals: budget against planned and measured peaks, outcome, verdict."""

    budget: int
    max_connections: int
    total_peak_planned: int
    peak_connections: int | None  # the fleet's own connections (its tag)
    peak_server_connections: int | None  # every client backend, anyone's
    ok: int
    failed: int
    fits_plan: bool
    throughput_qps: float
    p99_s: float | None
    acquire_wait_p99_s: float | None
    services: tuple[ServiceFigures, ...]
    first_failure: FirstFailure | None = None
    budget_parts: dict[str, Any] = field(default_factory=dict)
    application_name: str | None = None
    processes: int | None = None  # OS processes that simulated the workers
    errors: tuple[ErrorRecord, ...] = ()
    fault: FaultRecord | None = None
    # per service, the pool that serves the measured load with ``margin`` spare (rightsize)
    advice: tuple[Advice, ...] = ()
    margin: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "budget": self.budget,
            "budget_parts": dict(self.budget_parts),
            "max_connections": self.max_connections,
            "total_peak_planned": self.total_peak_planned,
            "peak_connections": self.peak_connections,
            "peak_server_connections": self.peak_server_connections,
            "application_name": self.application_name,
            "processes": self.processes,
            "ok": self.ok,
            "failed": self.failed,
            "errors": [
                {
                    "type": e.type,
                    "sqlstate": e.sqlstate,
                    "count": e.count,
                    "first_s": round(e.first_s, 4),
                    "last_s": round(e.last_s, 4),
                    "example": e.example,
                }
                for e in self.errors
            ],
            "first_failure": None if self.first_failure is None else self.first_failure.to_dict(),
            "fits_plan": self.fits_plan,
            "throughput_qps": self.throughput_qps,
            "p99_s": self.p99_s,
            "acquire_wait_p99_s": self.acquire_wait_p99_s,
            "services": [s.to_dict() for s in self.services],
        }
        if self.advice:
            out["margin"] = self.margin
            out["advice"] = [a.to_dict() for a in self.advice]
        if self.fault is not None:
            out["fault"] = asdict(self.fault)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetSection:
        first = data.get("first_failure")
        fault = data.get("fault")
        return cls(
            budget=data["budget"],
            max_connections=data["max_connections"],
            total_peak_planned=data["total_peak_planned"],
            peak_connections=data.get("peak_connections"),
            peak_server_connections=data["peak_server_connections"],
            ok=data["ok"],
            failed=data["failed"],
            fits_plan=data["fits_plan"],
            throughput_qps=data["throughput_qps"],
            p99_s=data["p99_s"],
            acquire_wait_p99_s=data["acquire_wait_p99_s"],
            services=tuple(ServiceFigures.from_dict(s) for s in data["services"]),
            first_failure=None
            if first is None
            else FirstFailure(
                first["service"], first["sqlstate"], first.get("type"), first["at_s"]
            ),
            budget_parts=dict(data.get("budget_parts") or {}),
            application_name=data.get("application_name"),
            processes=data.get("processes"),
            errors=tuple(
                ErrorRecord(
                    e["type"],
                    e["sqlstate"],
                    e["count"],
                    e["first_s"],
                    e["last_s"],
                    e.get("example", ""),
                )
                for e in data.get("errors") or ()
            ),
            advice=tuple(Advice.from_dict(a) for a in data.get("advice") or ()),
            margin=data.get("margin"),
            fault=None
            if fault is None
            else FaultRecord(
                kind=fault["kind"],
                at_s=fault["at_s"],
                action_s=fault["action_s"],
                recovery_s=fault["recovery_s"],
                failed=fault.get("failed", 0),
                errors_by_sqlstate=dict(fault.get("errors_by_sqlstate") or {}),
                terminated=fault.get("terminated"),
            ),
        )
