"""The hot path: what each task's outcome costs to record.

A success appends two floats to arrays (its latency and its wait); a failure bumps a counter in a
dict keyed by (exception type, SQLSTATE). No logging, formatting or locks here: statistics are
computed once, at the end, from what was recorded.

Latency has one definition for every strategy: completion - arrival, where arrival is when the
workload handed the task to the strategy (the start of the measured window for a burst). Its
two parts: wait, from arrival until a connection is in hand (a pool's or semaphore's queue,
connecting, a batch's turn, failed attempts and their backoff), and service, from then until
the task is done (its statements and the release or close of the connection).
"""

from __future__ import annotations

import errno
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

from dbkit.model.dsn import mask_text
from dbkit.model.results import ErrorRecord

EXAMPLE_MAX_CHARS = 300


def quiet_driver_logs() -> None:
    """asyncpg's pool logs a traceback each time it fails to refill after a fault; those
    failures are what we measure and record, so keep them off the user's terminal."""
    import logging

    logging.getLogger("asyncpg").addHandler(logging.NullHandler())
    logging.getLogger("asyncpg").propagate = False


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE an exception carries: asyncpg's ``.sqlstate``, or SQLAlchemy's ``.orig``'s."""
    state = getattr(exc, "sqlstate", None)
    if state is None:
        state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return str(state) if state is not None else None


_TYPE_NAMES: dict[type, str] = {}


def type_name(kind: type) -> str:
    """``asyncpg.exceptions.TooManyConnectionsError``; builtins by their bare name."""
    name = _TYPE_NAMES.get(kind)
    if name is None:
        module = kind.__module__
        name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
        _TYPE_NAMES[kind] = name
    return name


def error_type(exc: BaseException) -> str:
    """The class name, with the errno's symbol for OS errors: ``OSError[EMFILE]``.

    Client-side limits (too many open files, refused or reset sockets) are classified by errno,
    never by message text, the same way server errors are by SQLSTATE.
    """
    name = type_name(type(exc))
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if code is None:
        return name
    return f"{name}[{errno.errorcode.get(code, code)}]"


@dataclass
class ErrorTally:
    """Running count of one (type, SQLSTATE) error class: ``count`` failed attempts (each a
    connection or statement the server refused, as its log counts them), of which ``tasks``
    were the task's last (a retried attempt counts in ``count`` only)."""

    count: int
    first_s: float
    last_s: float
    example: str
    tasks: int


ErrorTallies = dict[tuple[str, str | None], ErrorTally]


def error_records(errors: ErrorTallies) -> tuple[ErrorRecord, ...]:
    """The tallies as a result's error records, the most frequent first."""
    return tuple(
        ErrorRecord(kind, state, t.count, t.first_s, t.last_s, t.example, t.tasks)
        for (kind, state), t in sorted(errors.items(), key=lambda kv: -kv[1].count)
    )


def tally_error(
    errors: ErrorTallies, exc: BaseException, now: float, count: int = 1, tasks: int | None = None
) -> None:
    """Count ``count`` failed attempts with ``exc`` under its (type, SQLSTATE) key at ``now``
    seconds, ``tasks`` of them (default: all) ending their task; keep the first example."""
    tasks = count if tasks is None else tasks
    key = (error_type(exc), sqlstate_of(exc))
    tally = errors.get(key)
    if tally is None:
        message = str(exc).splitlines()[0] if str(exc) else ""
        errors[key] = ErrorTally(count, now, now, mask_text(message[:EXAMPLE_MAX_CHARS]), tasks)
    else:
        tally.count += count
        tally.tasks += tasks
        tally.last_s = now


class Tally:
    """Collects the outcome of every task of one run."""

    __slots__ = (
        "errors", "failed", "fault_done", "latencies", "on_begin", "queries_after_fault",
        "queries_ok", "retries", "started", "t0", "t_end", "waits",
    )  # fmt: skip

    def __init__(self) -> None:
        self.latencies: array[float] = array("d")
        self.waits: array[float] = array("d")  # one per latency, the same task's
        self.failed = 0
        self.queries_ok = 0
        self.errors: ErrorTallies = {}
        self.retries = 0
        # Fault recovery, without a clock read per statement: statements that started after a
        # fault's action had finished and then succeeded (one that started before may complete
        # after it, so it proves nothing about recovery).
        self.fault_done = False
        self.queries_after_fault = 0
        self.t0 = perf_counter()
        self.started = False
        self.on_begin: Callable[[], None] | None = None  # e.g. the monitor: sample the pools now
        self.t_end: float | None = None

    def begin(self) -> None:
        """The measured window starts (after pools and engines are ready)."""
        self.t0 = perf_counter()
        self.started = True
        if self.on_begin is not None:
            self.on_begin()

    def end(self) -> float:
        """The measured window ends; returns its length in seconds."""
        self.t_end = perf_counter()
        return self.t_end - self.t0

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def done(self) -> int:
        return len(self.latencies) + self.failed

    def success(self, arrived: float, acquired: float, queries: int) -> None:
        """A task that arrived at ``arrived`` and had its connection at ``acquired`` (both
        perf_counter() values) is done now, after ``queries`` successful statements."""
        self.latencies.append(perf_counter() - arrived)
        self.waits.append(acquired - arrived)
        self.queries_ok += queries

    def services(self) -> array[float]:
        """Each successful task's service time: its latency minus its wait."""
        return array("d", map(float.__sub__, self.latencies, self.waits))

    def failure(
        self, exc: BaseException, queries: int = 0, count: int = 1, attempts: int | None = None
    ) -> None:
        """Record ``count`` tasks failing with ``exc`` (after ``queries`` successful statements),
        in ``attempts`` failed attempts (default one each; 0 when counted by ``refused``)."""
        self.failed += count
        self.queries_ok += queries
        tally_error(
            self.errors, exc, perf_counter() - self.t0, count if attempts is None else attempts,
            count,
        )  # fmt: skip

    def refused(self, exc: BaseException) -> None:
        """One failed attempt that does not end a task (it is retried, or it is one of the
        connections a pool could not open): counted by its class as the server counts it."""
        tally_error(self.errors, exc, perf_counter() - self.t0, 1, 0)
