"""Fleets on a Dask LocalCluster of 2 worker processes, against a real embedded PostgreSQL:
clean under the planned peak, 53300s as the server counts them, a killed worker reported,
Ctrl-C keeping what every worker measured. Skipped, saying why, without distributed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dbkit.engine.dask_setup import ClusterSpec, open_cluster
from dbkit.engine.fleet import run_fleet
from dbkit.engine.status import Status
from dbkit.model.errors import ConfigError
from dbkit.model.service import Service
from dbkit.servers import EmbeddedServer, ServerSpec
from tests.helpers import (
    TOO_MANY,
    assert_fleet_ran,
    assert_terminate_recovered,
    kit_count,
    refused_in_log,
    server_count_since,
    server_now,
    spawned_children,
    wait_until_serving,
)

pytest.importorskip(
    "distributed", reason="Dask distributed is not installed: pip install 'dbkit[dask]'"
)

LOST_TYPE = "dbkit.engine.dask_cluster.WorkerLost"


def test_a_fitting_fleet_on_a_local_cluster_runs_clean_under_its_planned_peak(
    pg: EmbeddedServer,
) -> None:
    services = [
        Service("api", replicas=4, workers=2, pool_size=5),  # asyncpg: 40, opened eagerly
        Service("jobs", replicas=1, workers=2, pool_size=3, max_overflow=2, driver="sqlalchemy"),
    ]
    ticks: list[Status] = []
    result = run_fleet(
        services,
        ServerSpec("dsn", dsn=pg.app_dsn),
        duration=3.0,
        cluster="local:2",
        progress=ticks.append,
    )
    fleet = result.fleet
    assert fleet is not None and fleet.total_peak_planned == 50 and fleet.fits_plan
    assert fleet.first_failure is None and fleet.failed == 0 and fleet.errors == ()
    assert fleet.peak_connections is not None and 40 <= fleet.peak_connections <= 50
    assert all(run.failed == 0 for run in result.runs)
    assert_fleet_ran(result, ticks, duration=3.0, hold=0.05)
    assert [s.processes for s in fleet.services] == [8, 2]
    assert fleet.processes == 2  # one share per cluster worker
    executor = result.metadata["executor"]
    assert executor["kind"] == "dask" and executor["cluster"] == "local:2"
    assert executor["workers"] == 2 and len(executor["hosts"]) == 2
    assert executor["clock"] == "shared" and executor["lost"] == []
    assert executor["start_s"] > 0


def test_an_overcommitted_fleet_on_a_cluster_records_each_refusal_the_server_logged(
    logged: EmbeddedServer,
) -> None:
    # 4 pools of 6 opened eagerly against 16 slots: refused connections, one 53300 each in the
    # server's log and in the kit's count, whichever worker process they were refused in.
    before = refused_in_log(logged)
    result = run_fleet(
        [Service("api", replicas=4, workers=1, pool_size=6)],
        ServerSpec("dsn", dsn=logged.app_dsn),
        duration=2.0,
        cluster="local:2",
        allow_storm=True,
    )
    assert result.fleet is not None and not result.fleet.fits_plan
    kit = kit_count(result)
    assert kit > 0
    assert kit == result.fleet.services[0].errors_by_sqlstate[TOO_MANY]
    assert server_count_since(logged, before, kit) == kit
    first = result.fleet.first_failure
    assert first is not None and first.sqlstate == TOO_MANY


def test_the_dsn_guard_counts_the_whole_fleet_before_a_cluster_starts(pg20: EmbeddedServer) -> None:
    # 3 x 2 x 3 = 18 planned against pg20's 17 free for the plain role: refused before any
    # cluster process starts, as for local processes.
    with pytest.raises(ConfigError, match=re.escape("fleet may open 18 connections but only")):
        run_fleet(
            [Service("api", replicas=3, workers=2, pool_size=3)],
            ServerSpec("dsn", dsn=pg20.app_dsn),
            duration=1.0,
            cluster="local:2",
        )
    assert spawned_children() == []


def test_a_fault_fires_from_the_coordinator_and_its_recovery_is_measured_on_the_workers(
    pg: EmbeddedServer,
) -> None:
    # The marks travel to the workers and back on the coordinator's timer: the fault's failures
    # and its recovery are those the shares recorded after it, as for local processes.
    result = run_fleet(
        [Service("api", replicas=2, workers=2, pool_size=3)],
        ServerSpec("dsn", dsn=pg.app_dsn),
        duration=4.0,
        cluster="local:2",
        fault="terminate@1",
    )
    assert_terminate_recovered(result, at_s=1.0, within_s=3.0)


def test_a_worker_killed_mid_fleet_has_its_share_counted_as_failed_with_the_reason(
    pg: EmbeddedServer,
) -> None:
    # The kit's own local cluster (as --cluster local:2 starts it), reached by its address.
    client, cluster = open_cluster(ClusterSpec(local=2))
    try:
        pids = client.run(os.getpid)
        victim = sorted(pids)[0]  # shares go round-robin over the workers by address: share 0
        killed: list[float] = []

        def kill_once(status: Status) -> None:
            if status.done > 1.0 and not killed:
                os.kill(pids[victim], signal.SIGKILL)
                killed.append(status.done)

        result = run_fleet(
            [Service("api", replicas=4, workers=1, pool_size=3)],
            ServerSpec("dsn", dsn=pg.app_dsn),
            duration=4.0,
            cluster=cluster.scheduler_address,
            progress=kill_once,
        )
    finally:
        client.close()
        cluster.close()
    assert killed
    (lost,) = result.metadata["executor"]["lost"]
    assert lost["share"] == 0 and lost["worker"] == victim and lost["units"] == 2
    assert victim in lost["reason"] and "counted as failed" in lost["reason"]
    (run,) = result.runs
    (error,) = [e for e in run.errors if e.type == LOST_TYPE]
    assert (error.count, error.tasks_ended, error.sqlstate) == (2, 2, None)
    assert error.example == lost["reason"][: len(error.example)]
    assert run.ok > 0  # the other worker's share is kept
    assert result.fleet is not None and result.fleet.failed >= 2
    assert result.fleet.first_failure is not None  # the fleet did not run clean: exit 1
    assert not result.interrupted


def test_ctrl_c_on_a_cluster_keeps_what_every_worker_measured(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    import psutil  # a dependency of distributed

    out = tmp_path / "fleet.json"
    since = server_now(pg.admin_dsn)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbkit", "fleet", "--service",
         "api:replicas=2,workers=1,pool_size=4", "--duration", "60", "--cluster", "local:2",
         "--dsn", pg.app_dsn, "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip
    wait_until_serving(pg.admin_dsn, 8, proc, since)
    workers = psutil.Process(proc.pid).children(recursive=True)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)  # the group too, as `timeout -s INT` does: the cluster's
    stdout, stderr = proc.communicate(timeout=120)  # workers are in it, and must survive it
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    (run,) = doc["runs"]
    assert run["interrupted"] is True and run["ok"] > 0
    assert doc["metadata"]["executor"]["lost"] == []  # both workers reported
    assert "INTERRUPTED" in stdout
    _, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []  # no worker process outlives the command
