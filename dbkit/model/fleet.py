"""A fleet's section of a result: the fleet's totals, its budget, and each service's figures.

Read from and written to the document's ``fleet`` key (dbkit.result/1), key for key as the
format history in model/results.py describes; older files lack some keys and read back with
them unknown. Each record's fields are its JSON keys, in a file's order (dbkit.model.keys):
what is written, read and absent from older files is said there once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbkit.model.faults import FaultRecord
from dbkit.model.keys import Key, read, write
from dbkit.model.records import ErrorRecord
from dbkit.model.rightsize import Advice

COUNT_OR_NULL = (None, "count")
AMOUNT_OR_NULL = (None, "amount")


@dataclass(frozen=True)
class ServiceFigures:
    """One service of the fleet: its simulated workers, planned peak and what they did."""

    name: Annotated[str, Key("str")]
    # simulated worker processes (replicas x workers), each with its pool
    processes: Annotated[int, Key("count")]
    planned_peak: Annotated[int, Key("count")]
    ok: Annotated[int, Key("count")]
    failed: Annotated[int, Key("count")]
    throughput_qps: Annotated[float, Key("amount")]
    p99_s: Annotated[float | None, Key(AMOUNT_OR_NULL)]
    acquire_wait_p99_s: Annotated[float | None, Key(AMOUNT_OR_NULL)]
    # by SQLSTATE, or by type for errors without one
    errors_by_sqlstate: Annotated[dict[str, int], Key("sqlstate_counts")]
    pool_timeouts: Annotated[int, Key("count")]
    # right-sizing (dbkit.model.rightsize), the service's run's: null in older files
    active_peak: Annotated[int | None, Key(COUNT_OR_NULL, absent=None)] = None
    active_p99: Annotated[float | None, Key(AMOUNT_OR_NULL, absent=None)] = None
    demand: Annotated[float | None, Key(AMOUNT_OR_NULL, absent=None)] = None

    def to_dict(self) -> dict[str, Any]:
        return {**write(self), "errors_by_sqlstate": dict(self.errors_by_sqlstate)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceFigures:
        return cls(**read(cls, data, errors_by_sqlstate=dict(data["errors_by_sqlstate"])))


@dataclass(frozen=True)
class FirstFailure:
    """Where the fleet failed first: the service, the error's class, seconds into the fleet."""

    service: Annotated[str, Key("str")]
    sqlstate: Annotated[str | None, Key((None, "str"))]
    type: Annotated[str | None, Key("str", absent=None)]  # files from before it lack it
    at_s: Annotated[float, Key("number")]

    def to_dict(self) -> dict[str, Any]:
        out = write(self)
        if self.type is None:  # written only when known, as files from before lack it
            del out["type"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FirstFailure:
        return cls(**read(cls, data))


@dataclass(frozen=True, kw_only=True)
class FleetSection:
    """The fleet's totals: budget against planned and measured peaks, outcome, verdict. The
    fields are the section's JSON keys, in the order a file has them."""

    budget: Annotated[int, Key("int")]
    budget_parts: Annotated[dict[str, Any], Key("object", absent={})] = field(default_factory=dict)
    max_connections: Annotated[int, Key("count")]
    total_peak_planned: Annotated[int, Key("count")]
    # the fleet's own connections (its tag)
    peak_connections: Annotated[int | None, Key(COUNT_OR_NULL, absent=None)]
    # every client backend, anyone's
    peak_server_connections: Annotated[int | None, Key(COUNT_OR_NULL)]
    application_name: Annotated[str | None, Key((None, "str"), absent=None)] = None
    # OS processes that simulated the workers
    processes: Annotated[int | None, Key(COUNT_OR_NULL, absent=None)] = None
    ok: Annotated[int, Key("count")]
    failed: Annotated[int, Key("count")]
    # as a run's, with times rounded and no count of tasks
    errors: Annotated[tuple[ErrorRecord, ...], Key(["error"], absent=())] = ()
    first_failure: Annotated[FirstFailure | None, Key((None, FirstFailure))] = None
    fits_plan: Annotated[bool, Key("bool")]
    throughput_qps: Annotated[float, Key("amount")]
    p99_s: Annotated[float | None, Key(AMOUNT_OR_NULL)]
    acquire_wait_p99_s: Annotated[float | None, Key(AMOUNT_OR_NULL)]
    services: Annotated[tuple[ServiceFigures, ...], Key([ServiceFigures])]
    # per service, the pool that serves the measured load with ``margin`` spare (rightsize);
    # both written only with advice
    margin: Annotated[float | None, Key(AMOUNT_OR_NULL, absent=None)] = None
    advice: Annotated[tuple[Advice, ...], Key([Advice], absent=())] = ()
    fault: Annotated[FaultRecord | None, Key((None, FaultRecord), absent=None)] = None

    def to_dict(self) -> dict[str, Any]:
        out = {
            **write(self),
            "budget_parts": dict(self.budget_parts),
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
            "services": [s.to_dict() for s in self.services],
            "advice": [a.to_dict() for a in self.advice],
            "fault": None if self.fault is None else self.fault.to_dict(),
        }
        if not self.advice:
            del out["margin"], out["advice"]
        if self.fault is None:
            del out["fault"]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FleetSection:
        first = data.get("first_failure")
        fault = data.get("fault")
        made = {
            "budget_parts": dict(data.get("budget_parts") or {}),
            "errors": tuple(
                ErrorRecord(**read(ErrorRecord, {"example": "", **e}))
                for e in data.get("errors") or ()
            ),
            "first_failure": None if first is None else FirstFailure.from_dict(first),
            "services": tuple(ServiceFigures.from_dict(s) for s in data["services"]),
            "advice": tuple(Advice.from_dict(a) for a in data.get("advice") or ()),
            # a fleet's fault, in files from before, may lack what a run's always has
            "fault": None
            if fault is None
            else FaultRecord(
                **read(
                    FaultRecord,
                    fault,
                    failed=fault.get("failed", 0),
                    errors_by_sqlstate=dict(fault.get("errors_by_sqlstate") or {}),
                )
            ),
        }
        return cls(**read(cls, data, **made))
