"""A run's timeline: what happened per interval of its measured window, as parallel arrays.

Row i covers ``[t[i], t[i] + interval_s)`` seconds from the window's start: ``done`` tasks
completed, ``errors[label][i]`` failed attempts of that SQLSTATE (or exception class without
one), ``in_flight[i]`` the tasks that had arrived and not yet ended (succeeded or failed) at
the row's end, ``connections[i]`` the run's own connections the monitor saw then and, through a
pooler, ``pooler[i]`` the server connections the pooler held (SHOW POOLS: sv_active, sv_idle,
sv_used, sv_tested, sv_login). A sampled series is None where no sample is near, and empty when
nothing was sampled. Rows are dense from the window's first interval to its last, so an
interval where nothing completed is a 0, not a gap.

In flight counts every task that ended, from its arrival (the window's start for a burst, its
planned time for an open-loop run, the request's for a fleet's handler) to its end; a task
that arrived and ended within one interval is never in flight at an interval's end. Tasks an
interrupted run cancelled never ended and are not counted.

Parallel arrays, not a list of rows: a ten-minute fleet service at 100 ms is 6,000 rows, and a
row of keys repeated 6,000 times would be most of the file.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from dbkit.model.keys import Key, read, write
from dbkit.model.tally import TICK_S, Tally

SERIES = ("connections", "in_flight", "pooler")  # the series a timeline may lack
# A sample further than this many intervals from a row is not that row's connections.
NEAR_INTERVALS = 2.5


@dataclass(frozen=True, kw_only=True)
class Timeline:
    """Per interval of a run's window: completions, errors by label, tasks in flight, its own
    connections and the pooler's."""

    interval_s: Annotated[float, Key("amount")] = 0.1
    t: Annotated[tuple[float, ...], Key(["number"])] = ()
    done: Annotated[tuple[int, ...], Key(["count"])] = ()
    errors: Annotated[Mapping[str, tuple[int, ...]], Key("series_by_label", absent={})] = field(
        default_factory=dict
    )
    connections: Annotated[tuple[int | None, ...], Key([(None, "count")], absent=())] = ()
    in_flight: Annotated[tuple[int, ...], Key(["count"], absent=())] = ()
    pooler: Annotated[tuple[int | None, ...], Key([(None, "count")], absent=())] = ()

    def __len__(self) -> int:
        return len(self.t)

    def __bool__(self) -> bool:
        return bool(self.t)

    @property
    def failed(self) -> tuple[int, ...]:
        """Failed attempts per interval, every label's together."""
        out = [0] * len(self.t)
        for series in self.errors.values():
            for i, n in enumerate(series):
                out[i] += n
        return tuple(out)

    def throughput(self) -> tuple[float, ...]:
        """Completions per second, per interval."""
        return tuple(n / self.interval_s for n in self.done)

    def to_dict(self) -> dict[str, Any]:
        out = {
            **write(self),
            "t": list(self.t),
            "done": list(self.done),
            "errors": {label: list(series) for label, series in self.errors.items()},
            "connections": list(self.connections),
            "in_flight": list(self.in_flight),
            "pooler": list(self.pooler),
        }
        for series in SERIES:  # not recorded: not written, as files from before them
            if not out[series]:
                del out[series]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timeline:
        return cls(
            **read(
                cls,
                data,
                t=tuple(data["t"]),
                done=tuple(data["done"]),
                errors={k: tuple(v) for k, v in data.get("errors", {}).items()},
                connections=tuple(data.get("connections", ())),
                in_flight=tuple(data.get("in_flight", ())),
                pooler=tuple(data.get("pooler", ())),
            )
        )

    @classmethod
    def of(
        cls,
        tally: Tally,
        own: Sequence[tuple[float, int]] = (),
        pooler: Sequence[tuple[float, int]] = (),
    ) -> Timeline:
        """A finished tally's timeline: its per-tick counts and tasks in flight, dense over its
        window, with the samples ``own`` (the run's connections) and ``pooler`` (the pooler's
        server connections), each (seconds from the window's start, count) in time order."""
        assert tally.t_end is not None
        start_s = int(tally.t0 / TICK_S) * TICK_S - tally.t0  # ticks are aligned on the clock
        return cls.build(
            tally.timeline(), own, start_s=start_s, end_s=tally.t_end - tally.t0,
            interval_s=TICK_S, flow=tally.flow_rows(), pooler=pooler,
        )  # fmt: skip

    @classmethod
    def build(
        cls,
        rows: Sequence[tuple[float, int, Mapping[str, int]]],
        samples: Sequence[tuple[float, int]],
        *,
        start_s: float,
        end_s: float,
        interval_s: float,
        flow: Sequence[tuple[float, int]] | None = None,
        pooler: Sequence[tuple[float, int]] = (),
    ) -> Timeline:
        """Dense rows from ``start_s`` (the first interval's start, <= 0: intervals are aligned
        on the clock, not on the window) to ``end_s`` (the window's length), in seconds from the
        window's start. ``rows``: sparse (seconds from ``start_s``, completions, failed
        attempts by label), a tally's timeline; ``samples`` and ``pooler``: the run's and the
        pooler's connections, (seconds from the window's start, count) in time order;
        ``flow``: sparse (seconds from ``start_s``, tasks arrived - tasks ended), a tally's
        flow_rows (None: not recorded)."""
        ends = [end_s - start_s, *(t for t, *_ in rows), *(t for t, _ in flow or ())]
        size = max(_index(t, interval_s) for t in ends) + 1
        done = [0] * size
        errors: dict[str, list[int]] = {}
        for t, n, failed in rows:
            i = max(0, _index(t, interval_s))
            done[i] += n
            for label, count in failed.items():
                errors.setdefault(label, [0] * size)[i] += count
        times = tuple(round(start_s + i * interval_s, 4) for i in range(size))
        return cls(
            interval_s=interval_s,
            t=times,
            done=tuple(done),
            errors={label: tuple(series) for label, series in sorted(errors.items())},
            connections=_nearest(samples, times, interval_s) if samples else (),
            in_flight=() if flow is None else _running(flow, size, interval_s),
            pooler=_nearest(pooler, times, interval_s) if pooler else (),
        )


def _running(flow: Sequence[tuple[float, int]], size: int, interval_s: float) -> tuple[int, ...]:
    """The running sum of a sparse flow, per dense row."""
    net = [0] * size
    for t, n in flow:
        net[max(0, _index(t, interval_s))] += n
    out, total = [], 0
    for n in net:
        total += n
        out.append(total)
    return tuple(out)


def _index(t: float, interval_s: float) -> int:
    return math.floor(t / interval_s + 1e-9)


def _nearest(
    samples: Sequence[tuple[float, int]], times: Sequence[float], interval_s: float
) -> tuple[int | None, ...]:
    """Per row: the most connections sampled within it, else the sample nearest its middle
    (None when no sample is within NEAR_INTERVALS of it)."""
    at = [t for t, _ in samples]
    out: list[int | None] = []
    for start in times:
        lo = bisect.bisect_left(at, start)
        hi = bisect.bisect_left(at, start + interval_s)
        if hi > lo:
            out.append(max(n for _, n in samples[lo:hi]))
            continue
        middle = start + interval_s / 2
        near = [j for j in (lo - 1, lo) if 0 <= j < len(samples)]
        best = min(near, key=lambda j: abs(at[j] - middle), default=None)
        if best is None or abs(at[best] - middle) > NEAR_INTERVALS * interval_s:
            out.append(None)
        else:
            out.append(samples[best][1])
    return tuple(out)
