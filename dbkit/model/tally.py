"""The tally: what a group of tasks did, recorded on the hot path and merged afterwards.

One type for every way the kit measures: one process (``dbkit run``), each process of
``--procs``, each process of a fleet (one tally per service), merged with ``Tally.merged``
into one, exactly (counts, errors, timeline) and uniformly (latency samples).

A success appends two floats to arrays (its latency and its wait) and bumps its interval's
count; a failure bumps a counter in a dict keyed by (exception type, SQLSTATE). No logging,
formatting or locks here: statistics are computed once, at the end, from what was recorded.

Latency has one definition for every strategy: completion - arrival, where arrival is when the
workload handed the task to the strategy (the start of the measured window for a burst, the
moment a fleet's request handler issues its request). Its two parts: wait, from arrival until a
connection is in hand (a pool's or semaphore's queue, connecting, a batch's turn, failed
attempts and their backoff), and service, from then until the task is done (its statements and
the release or close of the connection).

Times are ``perf_counter()`` values, system-wide monotonic on Linux, so tallies of different
processes of one machine share one clock; a result's seconds are counted from the window's start.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from dbkit.model.dsn import mask_text
from dbkit.model.error_counts import (
    ErrorTallies,
    ErrorTally,
    counts_by_label,
    error_type,
    sqlstate_of,
)
from dbkit.model.records import ErrorRecord, error_label

EXAMPLE_MAX_CHARS = 300
TICK_S = 0.1  # the timeline's interval: completions and failures are counted per tick


def _tick(at: float) -> int:
    return int(at / TICK_S)


@dataclass(frozen=True)
class FaultMark:
    """The tally's counts when a fault's action began: what failed after it is the rest."""

    failed: int
    errors: dict[str, int]


class Tally:
    """Everything the tasks of one group did; merged across processes with ``merged``.

    ``cap`` bounds the latency samples kept (a fleet runs for a duration, not a count of tasks):
    past it, the samples are a uniform reservoir of every success (Vitter's algorithm R); counts
    are always exact.
    """

    __slots__ = (
        "_rand", "cap", "errors", "failed", "fault_done", "fault_mark", "flow", "latencies", "ok",
        "on_begin", "pool_timeouts", "pools_opened", "queries_after_fault", "queries_ok",
        "retries", "started", "t0", "t_end", "ticks", "waits",
    )  # fmt: skip

    def __init__(self, cap: int | None = None, seed: int = 0) -> None:
        self.latencies: array[float] = array("d")
        self.waits: array[float] = array("d")  # one per latency, the same task's
        self.ok = 0
        self.failed = 0
        self.queries_ok = 0
        self.errors: ErrorTallies = {}
        self.retries = 0
        self.pool_timeouts = 0  # acquires that gave up waiting for a pool's connection
        self.pools_opened = 0
        self.ticks: dict[int, int] = {}  # completions per timeline tick
        # Tasks in flight, as their net flow per tick: +n where n tasks arrived, -n where they
        # ended (a task arriving and ending in one tick is never in flight at a tick's end and
        # is not counted). The running sum is what was in flight at each tick's end.
        self.flow: dict[int, int] = {}
        self.cap = cap
        self._rand = random.Random(seed).randrange
        # Fault recovery, without a clock read per statement: statements that started after a
        # fault's action had begun and then succeeded (one that started before may complete
        # after it, so it proves nothing about recovery).
        self.fault_done = False
        self.fault_mark: FaultMark | None = None
        self.queries_after_fault = 0
        self.t0 = perf_counter()
        self.started = False
        self.on_begin: Callable[[], None] | None = None  # e.g. the monitor: sample the pools now
        self.t_end: float | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Tallies cross process boundaries (pickled); the callback and the rng stay here."""
        return {
            name: getattr(self, name)
            for name in self.__slots__
            if name not in ("_rand", "on_begin")
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            setattr(self, name, value)
        self.on_begin = None
        self._rand = random.Random(0).randrange

    def begin(self, at: float | None = None) -> None:
        """The measured window starts (after pools and engines are ready), now or ``at``."""
        self.t0 = perf_counter() if at is None else at
        self.started = True
        if self.on_begin is not None:
            self.on_begin()

    def end(self) -> float:
        """The measured window ends; returns its length in seconds."""
        self.t_end = perf_counter()
        return self.t_end - self.t0

    @property
    def done(self) -> int:
        return self.ok + self.failed

    def success(self, arrived: float, acquired: float, queries: int) -> None:
        """A task that arrived at ``arrived`` and had its connection at ``acquired`` (both
        perf_counter() values) is done now, after ``queries`` successful statements."""
        now = perf_counter()
        self.ok += 1
        self.queries_ok += queries
        tick = int(now / TICK_S)
        self.ticks[tick] = self.ticks.get(tick, 0) + 1
        came = int(arrived / TICK_S)
        if came != tick:
            self._flow(came, tick, 1)
        if self.cap is None or len(self.latencies) < self.cap:
            self.latencies.append(now - arrived)
            self.waits.append(acquired - arrived)
            return
        slot = self._rand(self.ok)
        if slot < self.cap:
            self.latencies[slot] = now - arrived
            self.waits[slot] = acquired - arrived

    def _flow(self, came: int, left: int, n: int) -> None:
        flow = self.flow
        flow[came] = flow.get(came, 0) + n
        flow[left] = flow.get(left, 0) - n

    def services(self) -> array[float]:
        """Each sampled task's service time: its latency minus its wait."""
        return array("d", map(float.__sub__, self.latencies, self.waits))

    def failure(
        self,
        exc: BaseException,
        queries: int = 0,
        count: int = 1,
        attempts: int | None = None,
        arrived: float | None = None,
    ) -> None:
        """Record ``count`` tasks that arrived at ``arrived`` (default: now, never in flight:
        a pool that could not open, a lost worker) failing now with ``exc`` (after ``queries``
        successful statements), in ``attempts`` failed attempts (default one each; 0 when
        counted by ``refused``)."""
        self.failed += count
        self.queries_ok += queries
        now = self._error(exc, count if attempts is None else attempts, count)
        if arrived is not None and count:
            came, left = _tick(arrived), _tick(now)
            if came != left:
                self._flow(came, left, count)

    def refused(self, exc: BaseException) -> None:
        """One failed attempt that does not end a task (it is retried, or it is one of the
        connections a pool could not open): counted by its class as the server counts it."""
        self._error(exc, 1, 0)

    def _error(self, exc: BaseException, count: int, tasks: int) -> float:
        now = perf_counter()
        key = (error_type(exc), sqlstate_of(exc))
        tally = self.errors.get(key)
        if tally is None:
            message = str(exc).splitlines()[0] if str(exc) else ""
            tally = self.errors[key] = ErrorTally(
                0, now, now, mask_text(message[:EXAMPLE_MAX_CHARS]), 0
            )
        tally.count += count
        tally.tasks += tasks
        tally.last_at = now
        if count:
            tick = _tick(now)
            tally.ticks[tick] = tally.ticks.get(tick, 0) + count
        return now

    def mark_fault(self) -> None:
        """A fault's action begins now: what fails from here on is the fault's
        (``since_fault``)."""
        if self.fault_mark is None:
            self.fault_mark = FaultMark(self.failed, counts_by_label(self.errors))

    def fault_over(self) -> None:
        """The fault's action is over: statements that start from now on and succeed count
        towards its recovery (``queries_after_fault``)."""
        self.mark_fault()
        self.fault_done = True

    def shift(self, by: float) -> None:
        """Move every time it holds by ``by`` seconds: a tally measured on another host's
        clock, onto the clock of the host that merges it. The timeline's ticks move by whole
        ticks (the nearest), so a tick's count may land one tick off; counts are unchanged."""
        self.t0 += by
        if self.t_end is not None:
            self.t_end += by
        ticks = round(by / TICK_S)
        self.ticks = {tick + ticks: n for tick, n in self.ticks.items()}
        self.flow = {tick + ticks: n for tick, n in self.flow.items()}
        for tally in self.errors.values():
            tally.first_at += by
            tally.last_at += by
            tally.ticks = {tick + ticks: n for tick, n in tally.ticks.items()}

    def since_fault(self) -> tuple[int, dict[str, int]]:
        """Tasks failed and failed attempts by SQLSTATE since ``mark_fault``."""
        mark = self.fault_mark or FaultMark(self.failed, counts_by_label(self.errors))
        now = counts_by_label(self.errors)
        return self.failed - mark.failed, {
            key: count - mark.errors.get(key, 0)
            for key, count in now.items()
            if count > mark.errors.get(key, 0)
        }

    def error_records(self, t0: float | None = None) -> tuple[ErrorRecord, ...]:
        """The errors as a result's records, most frequent first; times in seconds from ``t0``
        (default the window's start; an error before it, opening a pool, is at 0)."""
        t0 = self.t0 if t0 is None else t0
        ordered = sorted(self.errors.items(), key=lambda kv: (-kv[1].count, kv[1].first_at))
        return tuple(
            ErrorRecord(
                kind,
                state,
                t.count,
                max(0.0, t.first_at - t0),
                max(0.0, t.last_at - t0),
                t.example,
                t.tasks,
            )
            for (kind, state), t in ordered
        )

    def timeline(self, t0: float | None = None) -> list[tuple[float, int, dict[str, int]]]:
        """Per tick from the window's start: (seconds, completions, failed attempts by label).

        What happened before the window (a pool's connections refused while it opened) counts
        in its first tick, as error records put it at 0 s: the rows sum to the tally's counts."""
        start = _tick(self.t0 if t0 is None else t0)
        ticks = set(self.ticks)
        for tally in self.errors.values():
            ticks.update(tally.ticks)
        by_row: dict[int, tuple[int, dict[str, int]]] = {}
        for tick in sorted(ticks):
            row = max(tick, start)
            done, errors = by_row.setdefault(row, (0, {}))
            for (kind, state), t in self.errors.items():
                if tick in t.ticks:
                    label = error_label(kind, state)
                    errors[label] = errors.get(label, 0) + t.ticks[tick]
            by_row[row] = (done + self.ticks.get(tick, 0), errors)
        return [
            (round((row - start) * TICK_S, 4), done, errors)
            for row, (done, errors) in sorted(by_row.items())
        ]

    def flow_rows(self, t0: float | None = None) -> list[tuple[float, int]]:
        """Per tick from the window's start, as ``timeline``'s rows: (seconds, tasks arrived
        minus tasks ended then); their running sum is the tasks in flight at each row's end.
        What arrived before the window (never, today) counts in its first row."""
        start = _tick(self.t0 if t0 is None else t0)
        by_row: dict[int, int] = {}
        for tick, n in self.flow.items():
            row = max(tick, start)
            by_row[row] = by_row.get(row, 0) + n
        return [(round((row - start) * TICK_S, 4), n) for row, n in sorted(by_row.items())]

    @classmethod
    def merged(cls, parts: Sequence[Tally]) -> Tally:
        """One tally of several: counts, errors and timeline summed exactly; the window from
        the earliest start to the latest end; latency samples merged into one uniform sample
        of all successes (every one, when no part had to sample)."""
        out = cls()
        if not parts:
            out.t_end = out.t0
            return out
        out.t0 = min(p.t0 for p in parts)
        ends = [p.t_end for p in parts if p.t_end is not None]
        out.t_end = max(ends) if ends else None
        out.started = any(p.started for p in parts)
        for p in parts:
            out.ok += p.ok
            out.failed += p.failed
            out.queries_ok += p.queries_ok
            out.retries += p.retries
            out.pool_timeouts += p.pool_timeouts
            out.pools_opened += p.pools_opened
            out.queries_after_fault += p.queries_after_fault
            out.fault_done = out.fault_done or p.fault_done
            for tick, n in p.ticks.items():
                out.ticks[tick] = out.ticks.get(tick, 0) + n
            for tick, n in p.flow.items():
                out.flow[tick] = out.flow.get(tick, 0) + n
            for error_key, tally in p.errors.items():
                mine = out.errors.get(error_key)
                if mine is None:
                    out.errors[error_key] = mine = ErrorTally(
                        0, tally.first_at, tally.last_at, tally.example, 0
                    )
                mine.add(tally)
        marks = [p.fault_mark for p in parts if p.fault_mark is not None]
        if marks:
            errors: dict[str, int] = {}
            for mark in marks:
                for key, n in mark.errors.items():
                    errors[key] = errors.get(key, 0) + n
            # a part that never saw the mark failed nothing before it, as far as it knows
            unmarked = [p for p in parts if p.fault_mark is None]
            out.fault_mark = FaultMark(
                sum(m.failed for m in marks) + sum(p.failed for p in unmarked),
                _added(errors, (counts_by_label(p.errors) for p in unmarked)),
            )
        _merge_samples(out, parts)
        return out


def _added(base: dict[str, int], more: Iterable[dict[str, int]]) -> dict[str, int]:
    out = dict(base)
    for counts in more:
        for key, n in counts.items():
            out[key] = out.get(key, 0) + n
    return out


def _merge_samples(out: Tally, parts: Sequence[Tally]) -> None:
    """Uniform samples of different populations into one uniform sample of their union: each
    part keeps the same fraction of its successes, the smallest any part kept."""
    sampled = [p for p in parts if p.ok > 0]
    if not sampled:
        return
    rate = min(len(p.latencies) / p.ok for p in sampled)
    rng = random.Random(0)
    for p in sampled:
        keep = min(len(p.latencies), round(rate * p.ok))
        if keep == len(p.latencies):
            out.latencies.extend(p.latencies)
            out.waits.extend(p.waits)
            continue
        for i in sorted(rng.sample(range(len(p.latencies)), keep)):
            out.latencies.append(p.latencies[i])
            out.waits.append(p.waits[i])
    if out.cap is None and len(out.latencies) < out.ok:
        out.cap = len(out.latencies)  # the merged tally is a sample too: say so
