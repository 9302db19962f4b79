"""dbkit.engine.repeat: a measurement repeated N times on one server, each repeat its own run."""

from __future__ import annotations

import inspect
import json
import os
import signal
import typing

import pytest

from dbkit.engine.repeat import RunOptions, rounds, run_repeated
from dbkit.engine.run import run_experiment
from dbkit.engine.status import Status
from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.servers import EmbeddedServer, ServerSpec


def test_repeats_go_in_rounds() -> None:
    a, b = RunSpec("pool", pool_size=2), RunSpec("pool", pool_size=3)
    assert [s.name for s in rounds([a, b], 2)] == ["pool-2", "pool-3", "pool-2", "pool-3"]
    assert rounds([a], 1) == [a]


def test_run_repeated_passes_on_every_option_of_run_experiment() -> None:
    # run_experiment's keyword options are run_repeated's, by one TypedDict: an option added
    # to the one and not to the other fails here, not silently in a repeated run.
    params = inspect.signature(run_experiment, eval_str=True).parameters.values()
    keywords = {p.name: p.annotation for p in params if p.kind is p.KEYWORD_ONLY}
    assert typing.get_type_hints(RunOptions) == keywords
    assert set(inspect.signature(run_repeated).parameters) == {"specs", "server", "repeat",
                                                               "options"}  # fmt: skip


@pytest.mark.parametrize("bad", [0, 21, -2])
def test_a_bad_count_is_refused_before_any_server_starts(bad: int) -> None:
    unreachable = ServerSpec("dsn", dsn="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="repeat must be a whole number from 1 to 20"):
        run_repeated([RunSpec("pool")], unreachable, repeat=bad)


def test_pooled_flags_are_one_per_spec() -> None:
    unreachable = ServerSpec("dsn", dsn="postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(ConfigError, match="pooled names 2 runs; there are 1"):
        run_repeated([RunSpec("pool")], unreachable, repeat=3, pooled=[True, False])


def test_each_repeat_is_its_own_run_on_the_same_server(pg: EmbeddedServer) -> None:
    spec = RunSpec("pool", tasks=30, pool_size=3, queries=1, hold=0.01)
    result = run_repeated([spec], ServerSpec("dsn", dsn=pg.admin_dsn), repeat=3)
    assert [r.name for r in result.runs] == ["pool-3"] * 3
    assert all(r.ok == 30 and not r.errors and not r.interrupted for r in result.runs)
    assert not result.interrupted
    # each its own record: its own tag (connections told apart) and its own timeline
    assert len({r.application_name for r in result.runs}) == 3
    assert all(sum(r.timeline.done) == 30 for r in result.runs)
    assert all(r.peak_connections is not None and r.peak_connections <= 3 for r in result.runs)


def test_the_guards_judge_a_repeated_run_as_one() -> None:
    # too large for the server: refused as one run of it is
    server = ServerSpec("embedded", max_connections=20)
    with pytest.raises(ConfigError, match="pool-30 may open 30 connections"):
        run_repeated([RunSpec("pool", pool_size=30, tasks=30)], server, repeat=2)


def test_ctrl_c_mid_repeat_keeps_the_finished_repeats_and_the_one_in_progress(
    pg: EmbeddedServer,
) -> None:
    sent: list[int] = []
    names: set[str] = set()

    def progress(index: int, name: str, status: Status) -> None:
        names.add(name)
        if index == 1 and status.done >= 4 and not sent:  # the second repeat, under way
            sent.append(index)
            os.kill(os.getpid(), signal.SIGINT)

    spec = RunSpec("pool", tasks=40, pool_size=2, queries=1, hold=0.05)
    result = run_repeated([spec], ServerSpec("dsn", dsn=pg.admin_dsn), repeat=3, progress=progress)
    assert sent == [1]
    assert names == {"pool-2 #1", "pool-2 #2"}  # the progress line says which repeat
    assert result.interrupted
    assert [(r.name, r.interrupted) for r in result.runs] == [("pool-2", False), ("pool-2", True)]
    assert result.runs[0].ok == 40 and 0 < result.runs[1].ok < 40
    json.loads(result.dumps())  # the document is whole
