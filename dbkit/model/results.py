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
  In a fleet's ``metadata``, ``executor``: where its workers ran: ``kind`` (``local``: processes
  of this machine; ``dask``: tasks on a Dask cluster), ``workers`` (the processes: local ones,
  or the cluster's workers) and ``hosts`` (each one's host name); for ``dask`` also
  ``cluster`` (``local:N`` or the scheduler's address), ``addresses``, ``shares``, ``start_s``
  (the cluster's start-up), ``clock`` (``shared``: one monotonic clock; ``wall``: workers on
  other hosts started by wall-clock time), ``start_late_s``, ``worker_event_loop``,
  ``worker_profiler`` and ``lost`` (shares whose worker process died: share, worker, host,
  units, seen_done, seen_failed, reason; each lost simulated worker is one failed request of
  type ``dbkit.engine.dask_cluster.WorkerLost``, its example the reason). Absent in files from
  before it.
  In ``metadata``, ``image``: the container image of a docker server (null for the others;
  absent in files from before it), beside the ``server_version`` the server reported.
  ``sweep``: ``param``, ``values`` (the grid), ``repeat`` (rounds over it), ``tolerance`` and
  ``knee`` (null when no value completed a task; else ``value`` and ``throughput_qps``, both
  null when the best is the grid's largest value, ``best_value``, ``best_throughput_qps``,
  ``tolerance``, ``noise``, and the value once more under the param's name); files from
  before ``repeat`` lack it and the knee's ``tolerance`` and ``noise`` (read as 1 round, null).
  The keys of ``sweep``, its ``knee`` and a run's ``faults`` are the fields of SweepSection,
  Knee and dbkit.model.faults.FaultRecord (see dbkit.model.keys).
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
  Optional ``checks`` (absent when no --check was given): the verdicts, one per check and run
  (check, run, figure, op, threshold, value, passed, note; see dbkit.model.checks).
  Per run, optional ``timeline`` (absent when nothing was recorded, and in files from before
  it: read as empty): per interval of ``interval_s`` seconds, parallel arrays ``t`` (the
  interval's start, seconds from the window's start; the first may be < 0, intervals are
  aligned on the clock), ``done`` (completions), ``errors`` ({label: failed attempts}, labels
  as the error records', summing to their counts) and, with a monitor, ``connections`` (the
  run's own, null where no sample was near); see dbkit.model.timeline. Later, beside them:
  ``in_flight`` (tasks arrived and not yet ended at each interval's end) and, through a pooler,
  ``pooler`` (the server connections it held, from its console; null where no reading was
  near); files from before them lack the keys and read as not recorded (empty).
  Repeats (``--repeat N`` on run and scenario) add no key: they are N runs of one name in
  ``runs``, in the order they ran, as a sweep's rounds and a scenario listing a run twice
  always were (dbkit.model.repeats); files of every age read the same.
  Per run, right-sizing figures (defined once, in dbkit.model.rightsize): ``active_peak`` and
  ``active_p99`` (the run's own connections in state active, over the monitor's samples in the
  measured window; null without a monitor; through a pooler, the console's sv_active) and
  ``demand`` (Little's law: completed tasks per
  second x their mean service time; null when no task completed). Files from before them read
  back with null. In a fleet, each service's run carries its own member tag (model.identity)
  and its own ``peak_connections``, ``connections`` and active figures; before, each service's
  run held the fleet's. In ``fleet``, per service: ``active_peak``, ``active_p99``, ``demand``
  (absent in older files: null), and ``advice``: per service, the per-worker pool that serves
  the measured load (dbkit.model.rightsize.Advice, with its ``toml`` lines; absent in older
  files: none), computed with the fleet's ``margin``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbkit.model.dsn import mask_data
from dbkit.model.errors import ConfigError
from dbkit.model.faults import FaultRecord
from dbkit.model.fleet import FleetSection
from dbkit.model.keys import Key, read, write
from dbkit.model.pooler import PoolerSection
from dbkit.model.records import ErrorRecord
from dbkit.model.stats import LatencySummary
from dbkit.model.timeline import Timeline
from dbkit.model.verdict import Verdict

FORMAT = "dbkit.result/1"
SAMPLES = [("number", "count")]  # connection samples: [[seconds since the start, count], ...]
# Values the kit spells itself and the reader checks: a password spelled alike ("pool") must
# not make the file unreadable, so masking leaves them as they are.
VOCABULARY = frozenset({"format", "strategy"})


@dataclass(frozen=True)
class Run:
    """The measured outcome of one strategy run; times in seconds."""

    strategy: Annotated[str, Key("strategy")]
    name: Annotated[str, Key("str")]
    params: Annotated[Mapping[str, Any], Key("object")]
    tasks: Annotated[int, Key("count")]
    ok: Annotated[int, Key("count")]
    failed: Annotated[int, Key("count")]
    queries_ok: Annotated[int, Key("count")]
    wall_s: Annotated[float, Key("amount")]
    setup_s: Annotated[float, Key("amount")]
    ideal_s: Annotated[float | None, Key((None, "amount"))]
    latency_s: Annotated[LatencySummary, Key("summary")]
    errors: Annotated[tuple[ErrorRecord, ...], Key(["error"])] = ()
    # latency_s's two parts (see dbkit.model.tally): unknown in files written before them
    wait_s: Annotated[LatencySummary, Key("summary", absent={})] = field(
        default_factory=LatencySummary
    )
    service_s: Annotated[LatencySummary, Key("summary", absent={})] = field(
        default_factory=LatencySummary
    )
    peak_server_connections: Annotated[int | None, Key((None, "count"))] = None
    server_connections: Annotated[tuple[tuple[float, int], ...], Key(SAMPLES, absent=())] = ()
    retries: Annotated[int, Key("count", absent=0)] = 0
    faults: Annotated[tuple[FaultRecord, ...], Key([FaultRecord], absent=())] = ()
    interrupted: Annotated[bool, Key("bool", absent=False)] = False
    # the run's own (its tag), not the server's total
    peak_connections: Annotated[int | None, Key((None, "count"), absent=None)] = None
    connections: Annotated[tuple[tuple[float, int], ...], Key(SAMPLES, absent=())] = ()
    # the run's tag, on every connection its workload opened
    application_name: Annotated[str | None, Key((None, "str"), absent=None)] = None
    # the pooler the run went through (None: straight to the server; the key is then absent)
    pooler: Annotated[PoolerSection | None, Key((None, "pooler_run"), absent=None)] = None
    # per interval: completions, errors by SQLSTATE, own connections (dbkit.model.timeline)
    timeline: Annotated[Timeline, Key("timeline", absent=None)] = field(default_factory=Timeline)
    # right-sizing (dbkit.model.rightsize): own connections in state active, Little's demand
    active_peak: Annotated[int | None, Key((None, "count"), absent=None)] = None
    active_p99: Annotated[float | None, Key((None, "amount"), absent=None)] = None
    demand: Annotated[float | None, Key((None, "amount"), absent=None)] = None

    @property
    def connection_samples(self) -> tuple[tuple[float, int], ...]:
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
            "active_peak": self.active_peak,
            "active_p99": self.active_p99,
            "demand": self.demand,
            "retries": self.retries,
            "faults": [f.to_dict() for f in self.faults],
            "interrupted": self.interrupted,
        }
        if self.pooler is not None:
            out["pooler"] = self.pooler.to_dict()
        if self.timeline:
            out["timeline"] = self.timeline.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Run:
        pooler = data.get("pooler")
        made = {
            "params": dict(data["params"]),
            "latency_s": LatencySummary(**data["latency_s"]),
            "wait_s": LatencySummary(**data.get("wait_s", {})),
            "service_s": LatencySummary(**data.get("service_s", {})),
            "errors": tuple(ErrorRecord(**read(ErrorRecord, e)) for e in data["errors"]),
            "server_connections": tuple((t, n) for t, n in data.get("server_connections", ())),
            "faults": tuple(FaultRecord.from_dict(f) for f in data.get("faults", ())),
            "connections": tuple((t, n) for t, n in data.get("connections", ())),
            "pooler": None if pooler is None else PoolerSection.from_dict(pooler),
            "timeline": Timeline.from_dict(data["timeline"]) if "timeline" in data else Timeline(),
        }
        return cls(**read(cls, data, **made))


@dataclass(frozen=True, kw_only=True)
class Knee:
    """Where a sweep's curve levels off: the smallest ``value`` whose mean throughput
    (``throughput_qps``) is within ``tolerance`` of the best (``best_value``,
    ``best_throughput_qps``); both None when the best is the grid's largest value (no knee
    within it). ``noise``: the widest spread of one value's repeated points (None unrepeated)."""

    value: Annotated[int | None, Key((None, "int"))]
    throughput_qps: Annotated[float | None, Key((None, "amount"))]
    best_value: Annotated[int, Key("int")]
    best_throughput_qps: Annotated[float, Key("amount")]
    tolerance: Annotated[float | None, Key((None, "amount"), absent=None)] = None
    noise: Annotated[float | None, Key((None, "amount"), absent=None)] = None

    def to_dict(self, param: str) -> dict[str, Any]:
        # the value under the param's name too, as files have always had it
        return {param: self.value, **write(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Knee:
        return cls(**read(cls, data))


@dataclass(frozen=True, kw_only=True)
class SweepSection:
    """A sweep: ``repeat`` rounds over the grid ``values`` of ``param``, and its knee (None
    when no value completed a task)."""

    param: Annotated[str, Key("str")]
    values: Annotated[tuple[int, ...], Key(["count"], absent=())]
    repeat: Annotated[int, Key("count", absent=1)] = 1
    tolerance: Annotated[float, Key("amount")]
    knee: Annotated[Knee | None, Key((None, Knee))]

    def own_runs(self, runs: Sequence[Run]) -> list[Run]:
        """The runs of this grid among ``runs`` (a document may hold others): the first
        len(values) x repeat, in order (fewer after Ctrl-C), each at its value. Without the
        grid (a file that lacks it): every run that has the param."""
        if not self.values:
            return [r for r in runs if _whole(r.params.get(self.param))]
        grid = list(self.values) * self.repeat
        return [
            run
            for value, run in zip(grid, runs, strict=False)
            if _whole(run.params.get(self.param)) and run.params[self.param] == value
        ]

    def to_dict(self) -> dict[str, Any]:
        knee = None if self.knee is None else self.knee.to_dict(self.param)
        return {**write(self), "values": list(self.values), "knee": knee}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepSection:
        knee = data["knee"]
        return cls(
            **read(
                cls,
                data,
                values=tuple(data.get("values", ())),
                knee=None if knee is None else Knee.from_dict(knee),
            )
        )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Result:
    """One command's document: metadata and the runs, in the order they ran."""

    metadata: Mapping[str, Any]
    runs: tuple[Run, ...]
    interrupted: bool = False
    fleet: FleetSection | None = None
    sweep: SweepSection | None = None
    format: str = field(default=FORMAT)
    checks: tuple[Verdict, ...] = ()  # the --check verdicts, in the order given

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
            out["sweep"] = self.sweep.to_dict()
        if self.checks:
            out["checks"] = [verdict.to_dict() for verdict in self.checks]
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
            sweep=None if data.get("sweep") is None else SweepSection.from_dict(data["sweep"]),
            checks=tuple(Verdict.from_dict(v) for v in data.get("checks", ())),
        )
