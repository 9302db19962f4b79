"""The background post's baseline: three ``asyncio.sleep(hold)`` per task, no database."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from time import perf_counter
from typing import Any

from dbkit.model.spec import RunSpec
from dbkit.model.tally import Tally
from dbkit.strategies.base import Strategy, Target, Turns, hand_over, waves_ideal


async def _sleeper(hold: float, queries: int, rec: Tally, arrived: float | None = None) -> None:
    # Latency as every strategy's (dbkit.model.tally): a burst's coroutines arrive at the start;
    # one of a later batch waits for its slice's turn, and its sleeps are its service.
    started = perf_counter()
    for _ in range(queries):
        await asyncio.sleep(hold)
    rec.success(rec.t0 if arrived is None else arrived, started, queries)


async def execute(spec: RunSpec, target: Target, rec: Tally) -> None:
    if spec.open_loop:
        await _arriving(spec, rec)
        return
    # As the post: every coroutine is created up front, then gathered all at once
    # (unbatched) or in sequential slices (batched).
    coros: list[Coroutine[Any, Any, None]] = [
        _sleeper(spec.hold, spec.queries, rec) for _ in range(spec.tasks)
    ]
    rec.begin()
    if spec.mode == "batched":
        size = spec.effective_batch_size
        for start in range(0, len(coros), size):
            # gather: one slice at a time, so at most `size` coroutines are scheduled at once.
            await asyncio.gather(*coros[start : start + size])
    else:
        # gather: every coroutine scheduled at once, the post's unbatched run.
        await asyncio.gather(*coros)
    rec.end()


async def _arriving(spec: RunSpec, rec: Tally) -> None:
    # Open loop: each coroutine is created as its task arrives; batched takes them in batches.
    hold, queries = spec.hold, spec.queries

    def task(arrived: float) -> Coroutine[Any, Any, None]:
        return _sleeper(hold, queries, rec, arrived)

    rec.begin()
    if spec.mode == "batched":
        await hand_over(spec, rec, Turns(spec.effective_batch_size, spec.tasks).of(task))
    else:
        await hand_over(spec, rec, task)
    rec.end()


def ideal(spec: RunSpec) -> float | None:
    width = spec.effective_batch_size if spec.mode == "batched" else spec.tasks
    return waves_ideal(spec.replace(sql=None), width)


STRATEGY = Strategy(
    name="sleep",
    summary="no database: 3 x asyncio.sleep per task, unbatched and batched (the post's baseline)",
    needs_server=False,
    params=("mode", "queries", "hold", "batch_size"),
    execute=execute,
    ideal=ideal,
    peak_connections=lambda spec: 0,
    task_bytes=2_000,  # 1,000,000 sleep tasks peaked at 1.8 GB RSS
    label=lambda spec: f"sleep-{spec.mode}" if spec.mode else "sleep",
    recorded=lambda spec: (
        {"batch_size": spec.effective_batch_size} if spec.mode == "batched" else {}
    ),
)
