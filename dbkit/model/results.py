"""Result documents: the runs of one command with the metadata that makes them meaningful.

Format history (the ``format`` key of every file):
- ``dbkit.result/1``: ``metadata``, ``runs`` (strategy, name, params, tasks, ok, failed,
  queries_ok, wall_s, setup_s, throughput_qps, ideal_s, efficiency, latency_s, errors,
  peak_server_connections, server_connections samples), ``interrupted``.
  ``efficiency`` = ideal_s / wall_s x ok / tasks: failed tasks earn no credit, so a run whose
  tasks time out cannot look efficient. Optional ``fleet`` (a simulated fleet's totals and
  per-service figures) and ``sweep`` (the grid and its knee): present only when not null.
  Per run: ``retries`` (attempts repeated by --retry), ``faults`` (kind, at_s, action_s,
  recovery_s, failed, errors_by_sqlstate, terminated) and ``interrupted``.
  Per run, and in ``fleet``: ``peak_connections`` and ``connections`` samples count the run's
  own connections (application_name = its tag, recorded as ``application_name``), where
  ``peak_server_connections`` and ``server_connections`` count every client backend on the
  server, other people's too; files from before the tag lack them (null / empty when read).
  Per run, beside ``latency_s`` (p50/p90/p99/max of successful tasks, completion - arrival):
  ``wait_s`` (arrival until a connection is in hand) and ``service_s`` (holding it), the two
  parts of every strategy's one latency; files written before these keys carry none, and read
  back with unknown (null) wait and service percentiles. Before them, semaphore and batched
  latencies started once a task had its slot, and pool and sqlalchemy ones included the wait.
  Per error record: ``count`` is every failed attempt of that class, as the server counts them
  (a retried attempt and each connection a pool could not open too), and ``tasks`` how many of
  them ended their task; files from before it read back with tasks = count.
  In ``metadata``, ``image``: the container image of a docker server (null for the others;
  absent in files from before it), beside the ``server_version`` the server reported.
  Through a pooler: per run, ``statement_cache`` in ``params`` when the run set it (asyncpg's
  statement_cache_size), and an optional ``pooler`` section (kind, pool_mode, ``peaks`` and
  ``samples`` of the pooler's console: cl_active, cl_waiting, sv_active, sv_idle, maxwait_s,
  each sample at ``t`` s from the run's start); in ``metadata`` an optional ``pooler`` (kind,
  version, settings). Both are absent without a pooler, so files from before them read as
  runs straight to the server. Every error of a run with a ``pooler`` section came through the
  pooler (its only peer); the record keeps (type, SQLSTATE) as the driver reported them, and
  does not say whether the pooler raised an error (08P01 at max_client_conn, for one) or
  relayed the server's: that is not known per error. Through a pooler, ``peak_connections``
  counts the server connections that carried the run's tag when sampled: PgBouncer sets it on
  a server connection as a client is linked, and asyncpg's pool reset (RESET ALL) clears it,
  so it undercounts; ``peak_server_connections`` and the pooler's own counts do not.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbkit.model.dsn import mask_data
from dbkit.model.errors import ConfigError
from dbkit.model.fleet import FleetSection
from dbkit.model.pooler import PoolerSection
from dbkit.model.records import ErrorRecord
from dbkit.model.stats import LatencySummary

FORMAT = "dbkit.result/1"
# Values the kit spells itself and the reader checks: a password spelled alike ("pool") must
# not make the file unreadable, so masking leaves them as they are.
VOCABULARY = frozenset({"format", "strategy"})


@dataclass(frozen=True)
class Run:
    """The measured outcome of one strategy run; times in seconds."""

    strategy: str
    name: str
    params: Mapping[str, Any]
    tasks: int
    ok: int
    failed: int
    queries_ok: int
    wall_s: float
    setup_s: float
    ideal_s: float | None
    latency_s: LatencySummary
    errors: tuple[ErrorRecord, ...] = ()
    # latency_s's two parts (see dbkit.model.tally): unknown in files written before them
    wait_s: LatencySummary = field(default_factory=LatencySummary)
    service_s: LatencySummary = field(default_factory=LatencySummary)
    peak_server_connections: int | None = None
    server_connections: tuple[tuple[float, int], ...] = ()
    retries: int = 0
    faults: tuple[Mapping[str, Any], ...] = ()
    interrupted: bool = False
    peak_connections: int | None = None  # the run's own (its tag), not the server's total
    connections: tuple[tuple[float, int], ...] = ()
    application_name: str | None = None  # the run's tag, on every connection its workload opened
    pooler: PoolerSection | None = None  # the pooler the run went through: None, straight there

    @property
    def timeline(self) -> tuple[tuple[float, int], ...]:
        """The run's connections over time: its own, or every client's in files without them."""
        return self.connections or self.server_connections

    @property
    def throughput_qps(self) -> float:
        """Successful queries per second of wall time."""
        return self.queries_ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def efficiency(self) -> float | None:
        if not self.ideal_s or self.wall_s <= 0 or self.tasks == 0:
            return None  # unknown, or nothing to compare (a workload that holds for 0 s)
        # Failed tasks end early, so a run that lost most of its tasks can finish before its
        # ideal time: never more than 1 for the time, weighted by the share of tasks that made it.
        return min(1.0, self.ideal_s / self.wall_s) * self.ok / self.tasks

    def errors_by_sqlstate(self) -> dict[str | None, int]:
        counts: dict[str | None, int] = {}
        for err in self.errors:
            counts[err.sqlstate] = counts.get(err.sqlstate, 0) + err.count
        return counts

    def to_dict(self) -> dict[str, Any]:
        out = {
            "strategy": self.strategy,
            "name": self.name,
            "params": dict(self.params),
            "tasks": self.tasks,
            "ok": self.ok,
            "failed": self.failed,
            "queries_ok": self.queries_ok,
            "wall_s": self.wall_s,
            "setup_s": self.setup_s,
            "throughput_qps": self.throughput_qps,
            "ideal_s": self.ideal_s,
            "efficiency": self.efficiency,
            "latency_s": self.latency_s.to_dict(),
            "wait_s": self.wait_s.to_dict(),
            "service_s": self.service_s.to_dict(),
            "errors": [
                {
                    "type": e.type,
                    "sqlstate": e.sqlstate,
                    "count": e.count,
                    "first_s": e.first_s,
                    "last_s": e.last_s,
                    "example": e.example,
                    "tasks": e.tasks_ended,
                }
                for e in self.errors
            ],
            "peak_server_connections": self.peak_server_connections,
            "server_connections": [[t, n] for t, n in self.server_connections],
            "peak_connections": self.peak_connections,
            "connections": [[t, n] for t, n in self.connections],
            "application_name": self.application_name,
            "retries": self.retries,
            "faults": [dict(f) for f in self.faults],
            "interrupted": self.interrupted,
        }
        if self.pooler is not None:
            out["pooler"] = self.pooler.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        return cls(
            strategy=data["strategy"],
            name=data["name"],
            params=dict(data["params"]),
            tasks=data["tasks"],
            ok=data["ok"],
            failed=data["failed"],
            queries_ok=data["queries_ok"],
            wall_s=data["wall_s"],
            setup_s=data["setup_s"],
            ideal_s=data["ideal_s"],
            latency_s=LatencySummary(**data["latency_s"]),
            wait_s=LatencySummary(**data.get("wait_s", {})),
            service_s=LatencySummary(**data.get("service_s", {})),
            errors=tuple(ErrorRecord(**e) for e in data["errors"]),
            peak_server_connections=data["peak_server_connections"],
            server_connections=tuple((t, n) for t, n in data.get("server_connections", ())),
            retries=data.get("retries", 0),
            faults=tuple(data.get("faults", ())),
            interrupted=bool(data.get("interrupted", False)),
            peak_connections=data.get("peak_connections"),
            connections=tuple((t, n) for t, n in data.get("connections", ())),
            application_name=data.get("application_name"),
            pooler=None if data.get("pooler") is None else PoolerSection.from_dict(data["pooler"]),
        )


@dataclass(frozen=True)
class Result:
    """One command's document: metadata and the runs, in the order they ran."""

    metadata: Mapping[str, Any]
    runs: tuple[Run, ...]
    interrupted: bool = False
    fleet: FleetSection | None = None
    sweep: Mapping[str, Any] | None = None
    format: str = field(default=FORMAT)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "format": self.format,
            "metadata": dict(self.metadata),
            "interrupted": self.interrupted,
            "runs": [run.to_dict() for run in self.runs],
        }
        if self.fleet is not None:
            out["fleet"] = self.fleet.to_dict()
        if self.sweep is not None:
            out["sweep"] = dict(self.sweep)
        return out

    def dumps(self) -> str:
        """The JSON document, every DSN password and known secret masked in its values.

        Masking the values, not the serialised text, keeps the document valid JSON whatever
        the values hold (a user's SQL may well say ``password='x'``).
        """
        return json.dumps(mask_data(self.to_dict(), VOCABULARY), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        fmt = data.get("format")
        if fmt != FORMAT:
            raise ConfigError(f"not a {FORMAT} document (format: {fmt!r})")
        return cls(
            metadata=dict(data["metadata"]),
            runs=tuple(Run.from_dict(r) for r in data["runs"]),
            interrupted=bool(data.get("interrupted", False)),
            fleet=None if data.get("fleet") is None else FleetSection.from_dict(data["fleet"]),
            sweep=data.get("sweep"),
        )
