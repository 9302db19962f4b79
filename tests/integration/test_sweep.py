"""A sweep over three pool sizes on a real server names its knee."""

from __future__ import annotations

import json
import os
import signal

from dbkit.engine.status import Status
from dbkit.engine.sweep import run_sweep
from dbkit.model.spec import RunSpec
from dbkit.servers import ServerSpec


def test_sweep_over_three_sizes_names_a_knee() -> None:
    base = RunSpec("pool", tasks=40, queries=1, hold=0.05)
    result = run_sweep(base, [2, 5, 10], ServerSpec("embedded", max_connections=30))
    assert [r.params["pool_size"] for r in result.runs] == [2, 5, 10]
    assert all(r.ok == 40 and not r.errors for r in result.runs)
    assert result.sweep is not None and result.sweep.param == "pool_size"
    knee = result.sweep.knee
    # pg_sleep scales with connections: still rising at 10, so no knee within this grid
    assert knee is not None and (knee.value, knee.best_value) == (None, 10)
    assert all(r.peak_server_connections <= r.params["pool_size"] for r in result.runs)


def test_ctrl_c_in_a_sweep_keeps_the_partial_result() -> None:
    # Ctrl-C while pool-2 runs: asyncio.Runner turns SIGINT into cancelling the run, which keeps
    # its partial outcome and skips pool-5. The knee must come from finished runs only (none).
    sent = []

    def progress(index: int, name: str, status: Status) -> None:
        if status.done >= 4 and not sent:
            sent.append(name)
            os.kill(os.getpid(), signal.SIGINT)

    base = RunSpec("pool", tasks=40, queries=1, hold=0.05)
    result = run_sweep(base, [2, 5], ServerSpec("embedded", max_connections=30), progress=progress)
    assert sent == ["pool-2"]
    assert result.interrupted
    assert [(r.name, r.interrupted) for r in result.runs] == [("pool-2", True)]
    assert 0 < result.runs[0].ok < 40
    assert result.sweep is not None and result.sweep.values == (2, 5)
    assert result.sweep.knee is None
    json.loads(result.dumps())  # the document is still written whole
