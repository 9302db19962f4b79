"""Ctrl-C once something was measured never costs it: a signal between two runs (or after a
run's measurement, while its monitor stops) ends the experiment with what was measured, marked
interrupted; it never raises out of the library."""

from __future__ import annotations

import os
import signal

import pytest

from dbkit.engine.run import run_experiment, run_one
from dbkit.engine.status import Status
from dbkit.model.spec import RunSpec
from dbkit.servers import ServerSpec
from dbkit.servers.embedded import EmbeddedServer


@pytest.mark.parametrize("procs", [1, 2])
def test_ctrl_c_between_two_runs_keeps_the_first_and_skips_the_second(
    pg: EmbeddedServer, procs: int
) -> None:
    sent: list[str] = []

    def progress(index: int, name: str, status: Status) -> None:
        # The first run's last report comes once its measurement is over: the signal lands
        # after it, before the second run begins.
        if index == 0 and status.done == status.total and not sent:
            sent.append(name)
            os.kill(os.getpid(), signal.SIGINT)

    specs = [
        RunSpec("pool", tasks=20, queries=1, hold=0.01, pool_size=4, procs=procs),
        RunSpec("semaphore", tasks=20, queries=1, hold=0.01, limit=4),
    ]
    result = run_experiment(specs, ServerSpec("dsn", dsn=pg.app_dsn), progress=progress)
    assert sent, "the first run never reported its end"
    assert result.interrupted
    assert [(r.strategy, r.ok) for r in result.runs] == [("pool", 20)]


def test_after_an_interrupted_experiment_the_next_measurements_run_whole(
    pg: EmbeddedServer,
) -> None:
    # The process's signal count stays: what an earlier experiment was told must not stop a
    # later one, whether it goes through run_experiment or a run on its own (run_one).
    sent: list[int] = []

    def progress(index: int, name: str, status: Status) -> None:
        if status.done == status.total and not sent:
            sent.append(index)
            os.kill(os.getpid(), signal.SIGINT)

    spec = RunSpec("pool", tasks=20, queries=1, hold=0.01, pool_size=4)
    first = run_experiment([spec, spec], ServerSpec("dsn", dsn=pg.app_dsn), progress=progress)
    assert first.interrupted and len(first.runs) == 1
    again = run_experiment([spec, spec], ServerSpec("dsn", dsn=pg.app_dsn))
    alone = run_one(spec, pg.app_dsn, pg.admin_dsn)
    assert not again.interrupted and [r.ok for r in again.runs] == [20, 20]
    assert not alone.interrupted and alone.ok == 20
