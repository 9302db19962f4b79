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
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import math
import os
import platform
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbkit.dsn import mask_data, mask_secrets
from dbkit.errors import ConfigError
from dbkit.files import write_new
from dbkit.machine import package_version
from dbkit.servers.base import ServerInfo
from dbkit.spec import STRATEGY_NAMES
from dbkit.stats import LatencySummary

FORMAT = "dbkit.result/1"
DEFAULT_DIR = Path("results")
# Values the kit spells itself and the reader checks: a password spelled alike ("pool") must
# not make the file unreadable, so masking leaves them as they are.
VOCABULARY = frozenset({"format", "strategy"})


@dataclass(frozen=True)
class ErrorRecord:
    """Failures of one (exception type, SQLSTATE): ``count`` failed attempts (as the server
    counts them: a retried attempt, and each connection a pool could not open, count too),
    ``tasks`` of them the last of their task (None in files from before: equal to count),
    when, and an example."""

    type: str
    sqlstate: str | None
    count: int
    first_s: float
    last_s: float
    example: str
    tasks: int | None = None

    @property
    def tasks_ended(self) -> int:
        """The tasks that failed with this error."""
        return self.count if self.tasks is None else self.tasks

    @property
    def label(self) -> str:
        return error_label(self.type, self.sqlstate)


def error_label(type_name: str, sqlstate: str | None) -> str:
    """How an error class is named in tables: its SQLSTATE, or its exception's class name."""
    return sqlstate or type_name.rsplit(".", 1)[-1]


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
    # latency_s's two parts (see dbkit.recorder): unknown in files written before them
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
        return {
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
        )


@dataclass(frozen=True)
class Result:
    """One command's document: metadata and the runs, in the order they ran."""

    metadata: Mapping[str, Any]
    runs: tuple[Run, ...]
    interrupted: bool = False
    fleet: Mapping[str, Any] | None = None
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
            out["fleet"] = dict(self.fleet)
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
            fleet=data.get("fleet"),
            sweep=data.get("sweep"),
        )


def read_result(path: Path) -> Result:
    """Load a result file; a missing, unreadable, foreign or malformed file is a ConfigError.

    Every field that report, export and plot read is checked first against DOCUMENT_SHAPE, its
    type and the values a run can produce (counts and durations >= 0, finite numbers, ok +
    failed <= tasks, a known strategy), so a hand-edited file is refused with the field's path
    (``runs[0].ok: expected an integer, got 'lots'``), and a document without runs (and no
    fleet) is refused as having nothing to show.
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON result ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a {FORMAT} document")
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a {FORMAT} document (format: {data.get('format')!r})")
    problem = _problem(data, DOCUMENT_SHAPE, "")
    if problem is not None:
        raise ConfigError(f"{path}: malformed {FORMAT} document ({problem})")
    if not data["runs"] and data.get("fleet") is None:
        why = "interrupted before any run finished" if data.get("interrupted") else "runs is []"
        raise ConfigError(f"{path}: no runs to report ({why})")
    try:
        return Result.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed {FORMAT} document ({exc!r})") from None


@dataclass(frozen=True)
class _Object:
    """A JSON object's expected keys (``key?`` may be absent); ``closed`` refuses other keys,
    ``values`` is the shape of every value (for maps such as counts by SQLSTATE), ``rules``
    relate fields once each has its kind: each returns None or (field, what is wrong)."""

    fields: Mapping[str, Any]
    closed: bool = False
    values: Any = None
    rules: tuple[Callable[[Mapping[str, Any]], tuple[str, str] | None], ...] = ()


@dataclass(frozen=True)
class _Kind:
    """A JSON leaf: its type, and the values a real run can produce (NaN and infinity never)."""

    name: str
    types: type | tuple[type, ...]
    minimum: int | None = None
    choices: tuple[str, ...] = ()

    def expected(self, value: Any) -> str | None:
        """None if ``value`` fits, else what was expected, as the message says it."""
        # bool is an int to Python, not to JSON: true is no count and 1 is no flag
        if not isinstance(value, self.types) or isinstance(value, bool) != (self.types is bool):
            return self.name
        if isinstance(value, float) and not math.isfinite(value):
            return "a finite number"
        if self.minimum is not None and isinstance(value, int | float) and value < self.minimum:
            return f"{self.name} >= {self.minimum}"
        if self.choices and value not in self.choices:
            return f"one of {', '.join(self.choices)}"
        return None


# What report, export and plot read, and the values it may hold: the one description of the
# format's constraints. A shape is a kind name, an _Object, [shape] (a list of it),
# (None, shape) (it or null) or (first, second) (a [first, second] pair).
KINDS: dict[str, _Kind] = {
    "int": _Kind("an integer", int),
    "count": _Kind("an integer", int, minimum=0),  # tasks, connections, errors
    "number": _Kind("a number", (int, float)),  # a time since the run began: may be < 0
    "amount": _Kind("a number", (int, float), minimum=0),  # a duration, a rate, a share
    "str": _Kind("a string", str),
    "strategy": _Kind("a string", str, choices=STRATEGY_NAMES),
    "bool": _Kind("true or false", bool),
    "object": _Kind("an object", dict),
}


def _run_counts(run: Mapping[str, Any]) -> tuple[str, str] | None:
    tasks, ok, failed = run["tasks"], run["ok"], run["failed"]
    if ok > tasks:
        return "ok", f"{ok} is more than tasks ({tasks})"
    if ok + failed > tasks:
        return "failed", f"ok + failed ({ok + failed}) is more than tasks ({tasks})"
    return None


AMOUNT_OR_NULL = (None, "amount")
SQLSTATE_COUNTS = _Object({}, values="count")  # {sqlstate, or type without one: count}
SUMMARY_SHAPE = _Object(
    {f"{k}?": AMOUNT_OR_NULL for k in ("p50", "p90", "p99", "max")}, closed=True
)
FAULT_SHAPE = _Object(
    {
        "kind": "str",
        "at_s": "number",
        "action_s": "amount",
        "recovery_s?": AMOUNT_OR_NULL,
        "failed": "count",
        "errors_by_sqlstate?": SQLSTATE_COUNTS,
    }
)
RUN_SHAPE = _Object(
    {
        "strategy": "strategy",
        "name": "str",
        "params": "object",
        "tasks": "count",
        "ok": "count",
        "failed": "count",
        "queries_ok": "count",
        "wall_s": "amount",
        "setup_s": "amount",
        "ideal_s": AMOUNT_OR_NULL,
        "latency_s": SUMMARY_SHAPE,
        "wait_s?": SUMMARY_SHAPE,
        "service_s?": SUMMARY_SHAPE,
        "errors": [
            _Object(
                {
                    "type": "str",
                    "sqlstate": (None, "str"),
                    "count": "count",
                    "first_s": "number",
                    "last_s": "number",
                    "example": "str",
                    "tasks?": (None, "count"),
                },
                closed=True,
            )
        ],
        "peak_server_connections": (None, "count"),
        "server_connections?": [("number", "count")],
        "peak_connections?": (None, "count"),
        "connections?": [("number", "count")],
        "application_name?": (None, "str"),
        "retries?": "count",
        "faults?": [FAULT_SHAPE],
        "interrupted?": "bool",
    },
    rules=(_run_counts,),
)
FLEET_SERVICE_SHAPE = _Object(
    {
        "name": "str",
        "processes": "count",
        "planned_peak": "count",
        "ok": "count",
        "failed": "count",
        "throughput_qps": "amount",
        "p99_s": AMOUNT_OR_NULL,
        "acquire_wait_p99_s": AMOUNT_OR_NULL,
        "pool_timeouts": "count",
        "errors_by_sqlstate": SQLSTATE_COUNTS,
    }
)
FLEET_SHAPE = _Object(
    {
        "budget": "int",
        "max_connections": "count",
        "total_peak_planned": "count",
        "peak_server_connections": (None, "count"),
        "peak_connections?": (None, "count"),
        "ok": "count",
        "failed": "count",
        "fits_plan": "bool",
        "throughput_qps": "amount",
        "p99_s": AMOUNT_OR_NULL,
        "acquire_wait_p99_s": AMOUNT_OR_NULL,
        "first_failure": (
            None,
            _Object(
                {"service": "str", "at_s": "number", "sqlstate": (None, "str"), "type?": "str"}
            ),
        ),
        "fault?": (
            None,
            _Object(
                {
                    "kind": "str",
                    "at_s": "number",
                    "action_s": "amount",
                    "recovery_s": AMOUNT_OR_NULL,
                }
            ),
        ),
        "services": [FLEET_SERVICE_SHAPE],
    }
)
SWEEP_SHAPE = _Object(
    {
        "param": "str",
        "tolerance": "amount",
        "knee": (
            None,
            _Object(
                {
                    "value": "int",
                    "throughput_qps": "amount",
                    "best_value": "int",
                    "best_throughput_qps": "amount",
                }
            ),
        ),
    }
)
DOCUMENT_SHAPE = _Object(
    {
        "metadata": _Object(
            {
                "max_connections?": (None, "count"),
                "superuser_reserved_connections?": (None, "count"),
                "reserved_connections?": (None, "count"),
            }
        ),
        "interrupted?": "bool",
        "runs": [RUN_SHAPE],
        "fleet?": (None, FLEET_SHAPE),
        "sweep?": (None, SWEEP_SHAPE),
    }
)


def _describe(shape: Any) -> str:
    if isinstance(shape, str):
        return KINDS[shape].name
    if isinstance(shape, _Object):
        return "an object"
    if isinstance(shape, list):
        return "a list"
    if shape[0] is None:
        return f"{_describe(shape[1])} or null"
    return f"a pair [{_describe(shape[0])}, {_describe(shape[1])}]"


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | dict) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _problem(value: Any, shape: Any, where: str) -> str | None:
    """The first place ``value`` does not have ``shape``, as ``runs[0].ok: expected ...``."""
    here = where or "document"
    wrong = f"{here}: expected {_describe(shape)}, got {_show(value)}"
    nullable = isinstance(shape, tuple) and shape[0] is None
    if nullable and value is None:
        return None
    leaf = shape[1] if nullable else shape
    if isinstance(leaf, str):
        expected = KINDS[leaf].expected(value)
        if expected is None:
            return None
        return f"{here}: expected {expected}{' or null' if nullable else ''}, got {_show(value)}"
    if nullable:
        problem = _problem(value, leaf, where)
        # wrong right here, not deeper in: say that null would do too
        return wrong if problem and problem.startswith(f"{here}: ") else problem
    if isinstance(shape, tuple):  # a [first, second] pair
        if not isinstance(value, list) or len(value) != 2:
            return wrong
        return _problem(value[0], shape[0], f"{where}[0]") or _problem(
            value[1], shape[1], f"{where}[1]"
        )
    if isinstance(shape, list):
        if not isinstance(value, list):
            return wrong
        for i, item in enumerate(value):
            problem = _problem(item, shape[0], f"{where}[{i}]")
            if problem is not None:
                return problem
        return None
    if not isinstance(value, dict):
        return wrong
    prefix = f"{where}." if where else ""
    if shape.values is not None:
        for key, item in value.items():
            problem = _problem(item, shape.values, f"{prefix}{key}")
            if problem is not None:
                return problem
    names = {key.rstrip("?") for key in shape.fields}
    for key, sub in shape.fields.items():
        name = key.rstrip("?")
        if name not in value:
            if key.endswith("?"):
                continue
            return f"{prefix}{name}: missing"
        problem = _problem(value[name], sub, prefix + name)
        if problem is not None:
            return problem
    extra = sorted(set(value) - names) if shape.closed else []
    if extra:
        return f"{prefix}{extra[0]}: unexpected key"
    for rule in shape.rules:
        broken = rule(value)
        if broken is not None:
            return f"{prefix}{broken[0]}: {broken[1]}"
    return None


def write_result(result: Result, path: Path) -> Path:
    """Write atomically and never over an existing file (ResultExistsError if one is there)."""
    return write_new(Path(path), lambda out: out.write(result.dumps().encode()))


def default_path(stem: str, directory: Path = DEFAULT_DIR, now: dt.datetime | None = None) -> Path:
    """``results/<stem>-<UTC time>.json``, with a counter if that name is taken."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "result"
    path = directory / f"{safe}-{stamp}.json"
    counter = 2
    while path.exists():
        path = directory / f"{safe}-{stamp}-{counter}.json"
        counter += 1
    return path


def collect_metadata(
    info: ServerInfo | None,
    loop: str,
    command: Sequence[str],
    started_at: dt.datetime,
) -> dict[str, Any]:
    """What makes the numbers meaningful: server settings, versions, machine, command line."""
    meta: dict[str, Any] = {
        "dbkit_version": package_version("dbkit"),
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": [mask_secrets(arg) for arg in command],
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "asyncpg": package_version("asyncpg"),
        "sqlalchemy": package_version("sqlalchemy"),
        "uvloop": package_version("uvloop") if loop == "uvloop" else None,
        "event_loop": loop,
        "gc_enabled": gc.isenabled(),
        "gc_frozen_during_runs": True,  # objects from before each run are gc.freeze()d
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "argv0": Path(sys.argv[0]).name if sys.argv else None,
    }
    if info is None:
        meta["backend"] = None
    else:
        meta.update(
            backend=info.backend,
            server_version=info.server_version,
            max_connections=info.max_connections,
            superuser_reserved_connections=info.superuser_reserved_connections,
            reserved_connections=info.reserved_connections,
            app_role=info.app_role,
            app_role_is_superuser=info.app_role_is_superuser,
            image=info.image,
        )
    return meta
