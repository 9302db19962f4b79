"""Open-loop arrivals: when each task of a run with a ``rate`` arrives, from the window's start.

A run of ``rate`` R tasks per second for ``duration`` D seconds has N = round(R x D) arrivals
(its ``tasks``), each in [0, D), in order:

- ``fixed``: evenly spaced, D / N apart. The seed shifts them by a fraction of a gap (the
  golden-ratio sequence: 0 for seed 0), so that the processes of ``--procs``, which get
  consecutive seeds, interleave rather than arrive together.
- ``poisson``: a Poisson process of rate N / D given its count: N moments drawn uniformly at
  random in [0, D), in order (a Poisson process's arrivals, given how many fell in a window,
  are uniform in it), so the gaps are exponential, with the bursts and lulls that independent
  clients make. Drawn with ``random.Random(seed)``: the same seed gives the same schedule.

The count is fixed rather than drawn, so that a run lasts what was asked, its progress knows its
total, and the shares of ``--procs`` add up to it exactly.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

ARRIVALS = ("poisson", "fixed")
GOLDEN = (math.sqrt(5) - 1) / 2


def arrival_count(rate: float, duration: float) -> int:
    """How many tasks arrive at ``rate`` per second in ``duration`` seconds (half rounds up)."""
    return math.floor(rate * duration + 0.5)


def phase(seed: int) -> float:
    """The fixed schedule's shift, in gaps: 0 for seed 0, well spread for consecutive seeds."""
    return (seed * GOLDEN) % 1.0


def schedule(count: int, duration: float, arrivals: str, seed: int) -> Iterator[float]:
    """The ``count`` arrival times, in seconds from the window's start, in order, each in
    [0, ``duration``); one at a time, so that a long run never holds its whole schedule."""
    if arrivals == "fixed":
        gap, shift = duration / count, phase(seed)
        for i in range(count):
            yield (i + shift) * gap
        return
    draw = random.Random(seed).random
    # Sorted uniforms one by one (Bentley and Saxe, 1980): the least of k uniforms on [x, 1)
    # is 1 - (1 - x) * V ** (1 / k); ``left`` is 1 - x, never 0 since V = 1 - random() > 0.
    left = 1.0
    for remaining in range(count, 0, -1):
        left *= (1.0 - draw()) ** (1.0 / remaining)
        yield duration * (1.0 - left)


def last_arrival(count: int, duration: float, arrivals: str, seed: int) -> float:
    """When the last task arrives: exactly for ``fixed``; the expected time for ``poisson``
    (the largest of ``count`` uniforms), which needs no draw of the schedule."""
    if arrivals == "fixed":
        return (count - 1 + phase(seed)) * duration / count
    return duration * count / (count + 1)
