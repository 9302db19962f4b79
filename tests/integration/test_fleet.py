"""A simulated fleet against a real embedded PostgreSQL: peaks, 53300s, and no orphans."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from dbkit.engine.fleet import run_fleet
from dbkit.engine.status import Status
from dbkit.model.errors import ConfigError
from dbkit.model.service import Service
from dbkit.present.fleet import format_fleet
from dbkit.servers import ServerSpec
from tests.helpers import (
    assert_fleet_ran,
    assert_one_line_error,
    assert_terminate_recovered,
    dbkit,
    spawned_children,
)

SERVER = ServerSpec("embedded", max_connections=100)


def test_fitting_fleet_runs_clean_under_its_planned_peak() -> None:
    services = [
        Service("api", replicas=4, workers=2, pool_size=9),  # asyncpg: 72, opened eagerly
        Service("jobs", replicas=1, workers=2, pool_size=5, max_overflow=4, driver="sqlalchemy"),
    ]
    ticks: list[Status] = []
    result = run_fleet(services, SERVER, duration=3.0, hold=0.05, procs=3, progress=ticks.append)
    fleet = result.fleet
    assert fleet is not None
    # 97 plain-role slots, less the one the monitor (a superuser) takes while slots are free
    assert fleet.budget == 96 and fleet.total_peak_planned == 90 and fleet.fits_plan
    assert "53300" not in {e.sqlstate for e in fleet.errors}
    peak = fleet.peak_server_connections
    assert 72 <= peak <= 90  # the monitor does not count itself
    assert [r.name for r in result.runs] == ["api", "jobs"]
    assert [r.strategy for r in result.runs] == ["pool", "sqlalchemy"]
    assert_fleet_ran(result, ticks, duration=3.0, hold=0.05)
    for run in result.runs:
        assert run.queries_ok == run.ok
        assert run.peak_server_connections == peak
        assert run.latency_s.p50 is not None and run.latency_s.p50 >= 0.05
        assert run.wait_s.p50 is not None and run.latency_s.p50 >= run.wait_s.p50
    assert [s.processes for s in fleet.services] == [8, 2]
    assert result.metadata["executor"] == {
        "kind": "local", "workers": 3, "hosts": [socket.gethostname()]
    }  # fmt: skip
    # The table counts simulated workers (replicas x workers), not the 3 OS processes.
    table = [line.split() for line in format_fleet(result)[:4]]
    assert table[0][:2] == ["service", "workers"]
    assert [row[1] for row in table[1:]] == ["8", "2", "10"]
    # the progress line has the monitor's connections with the fleet's counts
    assert max(t.connections or 0 for t in ticks) > 0
    if fleet.first_failure is None:
        assert format_fleet(result)[-1] == "clean: no task failed"


def test_overcommitted_fleet_records_53300_and_names_the_first_failure() -> None:
    # 3 x 2 x 20 = 120 eager connections against 97 slots: at most four pools ever open, and
    # no open pool ever lets one go, so at least two workers fail until the deadline.
    services = [Service("api", replicas=3, workers=2, pool_size=20)]
    result = run_fleet(services, SERVER, duration=2.0, hold=0.05)
    fleet = result.fleet
    assert fleet is not None
    assert not fleet.fits_plan and fleet.total_peak_planned == 120
    # 97 held at most, plus backends forked a moment before PostgreSQL refuses them (53300);
    # never more than max_connections, which bounds every backend with a slot.
    assert 20 <= fleet.peak_server_connections <= 100  # at least one open pool of 20
    (run,) = result.runs
    assert run.failed >= 2 and run.ok > 0
    assert run.tasks == run.ok + run.failed
    by_state = run.errors_by_sqlstate()
    assert by_state.get("53300", 0) >= 2
    assert fleet.services[0].errors_by_sqlstate["53300"] == by_state["53300"]
    first = fleet.first_failure
    assert first is not None and first.service == "api"
    assert first.at_s == round(min(e.first_s for e in run.errors), 4)
    assert 0 <= first.at_s < 2.0
    assert fleet.failed == run.failed
    verdict = format_fleet(result)[-1]
    assert verdict.startswith("FAILED: first failure in service api at ")
    assert spawned_children() == []


@pytest.mark.parametrize(
    "kwargs",
    [{"duration": 0}, {"hold": -1}, {"procs": 0}, {"concurrency": 0}, {"loop": "nope"}],
)
def test_bad_input_is_refused_before_anything_starts(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        run_fleet([Service("api", 1, 1, 1)], SERVER, **kwargs)  # type: ignore[arg-type]


def test_an_interrupted_fleet_leaves_no_process_behind() -> None:
    class Stop(Exception):
        pass

    seen: list[int] = []

    def interrupt(status: Status) -> None:
        if status.done > 0.5:
            seen.extend(spawned_children())
            raise Stop

    with pytest.raises(Stop):
        run_fleet([Service("api", 2, 2, 5)], SERVER, duration=30.0, procs=2, progress=interrupt)
    assert len(seen) == 2  # the check below would see them
    assert spawned_children() == []


def test_pool_timeouts_are_counted_per_driver() -> None:
    # One connection per worker, ten handlers holding it 0.1 s, and acquires that wait 0.05 s:
    # most acquires must time out, in either driver's own exception.
    services = [
        Service("a", replicas=1, workers=1, pool_size=1),
        Service("s", replicas=1, workers=1, pool_size=1, driver="sqlalchemy"),
    ]
    result = run_fleet(
        services, SERVER, duration=1.0, hold=0.1, concurrency=10, acquire_timeout=0.05
    )
    fleet = result.fleet
    assert fleet is not None
    a, s = fleet.services
    assert a.pool_timeouts > 0 and s.pool_timeouts > 0
    assert a.errors_by_sqlstate == {"TimeoutError": a.pool_timeouts}
    assert s.errors_by_sqlstate == {"sqlalchemy.exc.TimeoutError": s.pool_timeouts}
    assert fleet.peak_server_connections <= 2
    assert fleet.first_failure is not None and fleet.first_failure.sqlstate is None


def test_a_fault_mid_fleet_is_recorded_with_its_recovery() -> None:
    result = run_fleet(
        [Service("api", replicas=2, workers=2, pool_size=4)],
        # 100 slots: pg_terminate_backend returns before the old backends are gone, and the
        # pools reconnect at once, so for a moment old and new backends both hold a slot.
        ServerSpec("embedded", max_connections=100),
        duration=5.0,
        procs=2,
        fault="terminate@1",
    )
    assert_terminate_recovered(result, at_s=1.0, within_s=4.0)


def test_a_fleet_fault_is_reported_once_as_fired_or_as_never_fired(tmp_path: Path) -> None:
    services = ["--service", "api:replicas=1,workers=2,pool_size=2",
                "--service", "jobs:replicas=1,workers=1,pool_size=2"]  # fmt: skip
    common = ["--server", "embedded", "--procs", "1", "--results-dir", str(tmp_path)]
    fired = dbkit("fleet", *services, "--duration", "2", "--fault", "terminate@0.5", *common)
    assert fired.returncode in (0, 1), fired.stderr  # 1: the terminated statements failed
    assert [line for line in fired.stdout.splitlines() if line.startswith("fault: terminate at")]
    assert "never fired" not in fired.stdout + fired.stderr
    late = dbkit("fleet", *services, "--duration", "1", "--fault", "terminate@5", *common)
    assert late.returncode == 0, late.stderr
    notes = [line for line in (late.stdout + late.stderr).splitlines() if "never fired" in line]
    assert notes == ["fault: terminate@5 never fired: the fleet ended first"]


def test_a_fleet_runs_the_workload_options_of_run(tmp_path: Path) -> None:
    # The fleet is a workload like any other: --sql, --queries, --commit, --statement-timeout.
    out = tmp_path / "fleet.json"
    proc = dbkit(
        "fleet", "--service", "api:replicas=4,workers=1,pool_size=5", "--sql", "SELECT 1",
        "--queries", "2", "--duration", "3", "--server", "embedded", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    (run,) = doc["runs"]
    assert run["params"]["sql"] == "SELECT 1" and run["params"]["queries"] == 2
    assert run["ok"] > 0 and run["failed"] == 0 and run["queries_ok"] == 2 * run["ok"]
    assert doc["fleet"]["peak_connections"] <= 20
    # a statement the server cancels is recorded by its SQLSTATE, as a run records it
    slow = dbkit(
        "fleet", "--service", "api:replicas=1,workers=1,pool_size=2", "--sql",
        "SELECT pg_sleep(1)", "--statement-timeout", "0.1", "--duration", "1.5",
        "--server", "embedded", "--out", str(tmp_path / "slow.json"),
    )  # fmt: skip
    assert slow.returncode == 1, slow.stderr
    fleet = json.loads((tmp_path / "slow.json").read_text())["fleet"]
    assert set(fleet["services"][0]["errors_by_sqlstate"]) == {"57014"}


def test_fleet_workload_options_are_checked_before_anything_starts(tmp_path: Path) -> None:
    proc = dbkit(
        "fleet", "--service", "api:replicas=1,workers=1,pool_size=2", "--commit", cwd=tmp_path
    )
    assert_one_line_error(proc, 2, "commit applies to a custom sql")
    assert not list(tmp_path.rglob("*.json"))  # nothing ran, nothing was written


def test_a_fleet_counts_each_services_active_connections_and_advises_its_pool(
    tmp_path: Path,
) -> None:
    # 2 request handlers per worker against pools of 6 and 4: the pools are mostly idle, and
    # each service's own figures show it (its member tag), not the fleet's together.
    out = tmp_path / "fleet.json"
    proc = dbkit(
        "fleet", "--service", "api:replicas=1,workers=2,pool_size=6",
        "--service", "jobs:replicas=1,workers=1,pool_size=4,driver=sqlalchemy",
        "--concurrency", "2", "--duration", "2", "--hold", "0.05", "--procs", "1",
        "--server", "embedded", "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    api, jobs = doc["runs"]
    assert api["application_name"].startswith(doc["fleet"]["application_name"] + ".")
    assert 1 <= api["active_peak"] <= 4 and 1 <= jobs["active_peak"] <= 2  # the handlers
    assert api["peak_connections"] <= 12 and jobs["peak_connections"] <= 4  # their pools
    assert doc["fleet"]["peak_connections"] >= api["peak_connections"]
    for run, handlers in ((api, 4), (jobs, 2)):
        assert 0 < run["demand"] <= handlers * 1.05  # Little: never more busy than handlers
    # per worker: max(p99, demand) of 2 handlers x 1.25 is at most 3, well under 6 and 4
    advice = {a["service"]: a for a in doc["fleet"]["advice"]}
    assert doc["fleet"]["margin"] == 0.25
    assert 1 <= advice["api"]["advised"] <= 3 and 1 <= advice["jobs"]["advised"] <= 3
    assert not advice["api"]["saturated"] and not advice["jobs"]["saturated"]
    lines = proc.stdout.splitlines()
    start = lines.index("change to the deploy file:")
    assert lines[start + 1] == "[services.api]"
    assert lines[start + 2].startswith(f"pool_size = {advice['api']['advised']}  # was 6: at most ")
    assert lines[start + 2].endswith(" active of 2 x 6")
    assert lines[start + 3] == "[services.jobs]"
    assert any(line.startswith("right-sizing: per-worker pool K = ceil(") for line in lines)
    assert lines[-1] == "clean: no task failed"
