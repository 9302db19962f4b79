"""The executors (engine/processes.py LocalProcesses, engine/dask_cluster.py DaskExecutor):
each says how far ahead of its start signal the common start lies, and describes itself for
the result's metadata, through the one Executor protocol (engine/observe.py)."""

from __future__ import annotations

import socket

from dbkit.engine.dask_cluster import DaskExecutor
from dbkit.engine.dask_setup import ClusterSpec
from dbkit.engine.observe import Executor
from dbkit.engine.processes import LocalProcesses


def test_local_processes_describe_themselves_and_their_start_lead() -> None:
    local: Executor = LocalProcesses([])
    assert local.describe() == {"kind": "local", "workers": 0, "hosts": [socket.gethostname()]}
    assert local.start_ahead_s == 0.3


def test_a_dask_executor_describes_its_cluster_before_it_has_reached_it() -> None:
    dask: Executor = DaskExecutor(ClusterSpec.parse("local:2"), lambda workers: [])
    described = dask.describe()
    assert (described["kind"], described["cluster"], described["workers"]) == ("dask", "local:2", 0)
    assert described["start_s"] is None and described["lost"] == []
    # the start goes out in one broadcast through the scheduler (about 0.26 s measured)
    assert dask.start_ahead_s == 0.3
