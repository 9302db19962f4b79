"""The background post's sleep test, written out as the post has it (Piccolo ORM, 2021).

``test_coroutine``, ``get_coroutines``, ``run`` and ``run_batched`` are the post's code: every
coroutine created up front, then one ``asyncio.gather`` (unbatched) or five sequential gathers
(batched). Only the ``__main__`` block differs: ``COUNT MODE`` on the command line runs one test
in this fresh interpreter and prints a JSON line for bench/run.py; with no arguments it runs
both tests as the post does.
"""

import asyncio
import gc
import json
import math
import sys
import time

# We will tweak this number to see when it's more efficient to batch up
# coroutines vs running them all in one go.
COROUTINE_COUNT = 1000


async def test_coroutine():
    """A simple coroutine - the sleep statements represent waiting for network."""
    await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)
    await asyncio.sleep(0.1)


def get_coroutines():
    return [test_coroutine() for i in range(COROUTINE_COUNT)]


async def run():
    """Run the coroutines without batching."""
    coroutines = get_coroutines()
    await asyncio.gather(*coroutines)


async def run_batched():
    """Batch up the coroutines, so the event loop isn't overwhelmed."""
    coroutines = get_coroutines()
    iterations = 5
    chunk_size = int(len(coroutines) / iterations)

    remainder = len(coroutines) - (chunk_size * iterations)
    if remainder > 0:
        iterations += math.ceil(remainder / chunk_size)

    for i in range(iterations):
        chunk = coroutines[i * chunk_size : (i + 1) * chunk_size]
        await asyncio.gather(*chunk)


def _status_kb(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def measure(count, mode):
    """One test, timed as the post does (around ``asyncio.run``), with its peak memory."""
    global COROUTINE_COUNT
    COROUTINE_COUNT = count
    test = run if mode == "unbatched" else run_batched
    rss_before_kb = _status_kb("VmRSS")
    tracked = len(gc.get_objects())
    full_gcs = gc.get_stats()[2]["collections"]
    start = time.perf_counter()
    asyncio.run(test())
    elapsed = time.perf_counter() - start
    return {
        "gc_tracked_before": tracked,
        "gc_full_collections": gc.get_stats()[2]["collections"] - full_gcs,
        "tasks": count,
        "mode": mode,
        "call_s": elapsed,
        "rss_before_kb": rss_before_kb,
        "hwm_kb": _status_kb("VmHWM"),
    }


if __name__ == "__main__":
    if len(sys.argv) == 3:
        print(json.dumps(measure(int(sys.argv[1]), sys.argv[2])))
    else:
        for test in (run, run_batched):
            start = time.time()
            asyncio.run(test())
            end = time.time()
            delta = end - start
            print(f"{test.__name__}: {delta:.2f} seconds")
