"""One measurement in a fresh interpreter: bench/run.py starts this with a JSON job as argv[1].

Each job runs in its own process so that no measurement inherits another's heap, loop or
imports; it prints one JSON line with its figures (times from ``perf_counter``, memory from
/proc/self/status) on stdout.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import pwd
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dbkit.engine.guards import raise_fd_limit
from dbkit.engine.loops import loop_factory
from dbkit.engine.run import run_one, run_procs
from dbkit.model.spec import RunSpec
from dbkit.servers.embedded import EmbeddedServer, find_bindir, free_port
from dbkit.servers.unprivileged import usable_bindir


def status_kb(key: str) -> int:
    """A ``kB`` line of /proc/self/status: VmRSS (now) or VmHWM (peak resident)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def run_kit(spec: RunSpec, app_dsn: str | None, admin_dsn: str | None, loop: str) -> dict[str, Any]:
    """One kit run as `dbkit run` makes it (one process, or ``spec.procs``), with its cost."""
    rss_before = status_kb("VmRSS")
    tracked = len(gc.get_objects())  # the heap every full collection walks
    full_gcs = gc.get_stats()[2]["collections"]
    started = time.perf_counter()
    if spec.procs > 1:
        assert app_dsn is not None and admin_dsn is not None
        run = run_procs(spec, app_dsn, admin_dsn, loop)
    else:
        run = run_one(spec, app_dsn, admin_dsn, loop)
    call_s = time.perf_counter() - started
    out = run.to_dict()
    for series in ("server_connections", "connections"):  # samples every 50 ms: not needed
        out.pop(series, None)
    out.update(
        call_s=call_s,
        rss_before_kb=rss_before,
        hwm_kb=status_kb("VmHWM"),
        loop=loop,
        gc_tracked_before=tracked,
        gc_full_collections=gc.get_stats()[2]["collections"] - full_gcs,
    )
    return out


def job_run(job: dict[str, Any]) -> dict[str, Any]:
    spec = RunSpec(**job["spec"])
    return run_kit(spec, job.get("app_dsn"), job.get("admin_dsn"), job["loop"])


def job_duration(job: dict[str, Any]) -> dict[str, Any]:
    """Emulate a duration-bounded run: a short calibration sizes the tasks to last ``seconds``."""
    spec = RunSpec(**job["spec"])
    app, admin, loop = job["app_dsn"], job["admin_dsn"], job["loop"]
    calib = run_kit(spec.replace(tasks=job["calibration_tasks"]), app, admin, loop)
    rate = calib["tasks"] / calib["wall_s"] if calib["wall_s"] > 0 else 1.0
    tasks = max(job["calibration_tasks"], round(rate * job["seconds"]))
    out = run_kit(spec.replace(tasks=tasks), app, admin, loop)
    out["calibration"] = {k: calib[k] for k in ("tasks", "ok", "wall_s", "throughput_qps")}
    return out


async def _bare_task(dsn: str, hold: float) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=60)
    try:
        await conn.execute(f"SELECT pg_sleep({hold!r})")
    finally:
        await conn.close()


async def _bare_storm(dsn: str, tasks: int, hold: float) -> list[BaseException | None]:
    # gather with return_exceptions: the plainest way to learn every task's outcome.
    return await asyncio.gather(
        *(_bare_task(dsn, hold) for _ in range(tasks)), return_exceptions=True
    )


def job_bare_storm(job: dict[str, Any]) -> dict[str, Any]:
    """The storm with nothing but asyncpg and one gather: the reference for the kit's storm."""
    import asyncpg  # noqa: F401 -- imported before the clock starts, as the kit's is

    started = time.perf_counter()
    outcomes = asyncio.run(_bare_storm(job["app_dsn"], job["tasks"], job["hold"]))
    wall_s = time.perf_counter() - started
    errors: dict[str, int] = {}
    for outcome in outcomes:
        if outcome is not None:
            key = str(getattr(outcome, "sqlstate", None) or type(outcome).__name__)
            errors[key] = errors.get(key, 0) + 1
    return {"wall_s": wall_s, "ok": outcomes.count(None), "errors": errors}


async def _bare_qps(dsn: str, clients: int, seconds: float) -> tuple[int, float]:
    import asyncpg

    conns = [await asyncpg.connect(dsn) for _ in range(clients)]
    started = time.perf_counter()
    deadline = started + seconds

    async def client(conn: asyncpg.Connection) -> int:
        done = 0
        while time.perf_counter() < deadline:
            await conn.execute("SELECT 1")
            done += 1
        return done

    # gather: every client runs until the deadline, as pgbench's clients do.
    counts = await asyncio.gather(*(client(conn) for conn in conns))
    elapsed = time.perf_counter() - started
    for conn in conns:
        await conn.close()
    return sum(counts), elapsed


def job_bare_qps(job: dict[str, Any]) -> dict[str, Any]:
    """SELECT 1 with asyncpg alone, one connection per client: the driver's own ceiling."""
    with asyncio.Runner(loop_factory=loop_factory(job["loop"])) as runner:
        queries, elapsed = runner.run(_bare_qps(job["app_dsn"], job["clients"], job["seconds"]))
    return {"queries": queries, "wall_s": elapsed, "qps": queries / elapsed, "loop": job["loop"]}


def job_server_start(job: dict[str, Any]) -> dict[str, Any]:
    """Two EmbeddedServer starts in a row: the first is cold for this process, the second warm."""
    times = []
    for _ in range(2):
        server = EmbeddedServer(max_connections=100)
        started = time.perf_counter()
        server.start()
        times.append(time.perf_counter() - started)
        server.stop()
    bindir = find_bindir()
    user = _run_as()
    copied = usable_bindir(bindir, user) != bindir
    return {"cold_s": times[0], "warm_s": times[1], "install_copied": copied}


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _bare_start_once(bindir: Path, user: tuple[int, int] | None) -> float:
    """initdb + postgres until postmaster.pid says ready: the README recipe, nothing more."""
    ids: dict[str, Any] = {}
    if user is not None:
        ids = {"user": user[0], "group": user[1], "extra_groups": []}
    with tempfile.TemporaryDirectory(prefix="dbkit-bench-pg-") as tmp:
        folder = Path(tmp)
        if user is not None:
            os.chown(folder, *user)
        data = folder / "data"
        started = time.perf_counter()
        subprocess.run(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions"],
            check=True, capture_output=True, cwd=folder, **ids,
        )  # fmt: skip
        settings = {"listen_addresses": "127.0.0.1", "port": str(free_port()),
                    "unix_socket_directories": str(folder), "max_connections": "100",
                    "fsync": "off"}  # fmt: skip
        cmd = [str(bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            cmd += ["-c", f"{key}={value}"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **ids)
        try:
            while not _ready(data / "postmaster.pid"):
                if proc.poll() is not None:
                    raise RuntimeError("bare postgres exited at start")
                time.sleep(0.01)
            elapsed = time.perf_counter() - started
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(15)
    return elapsed


def _ready(pidfile: Path) -> bool:
    try:
        lines = pidfile.read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def job_bare_start(job: dict[str, Any]) -> dict[str, Any]:
    user = _run_as()
    bindir = usable_bindir(find_bindir(), user)
    cold = _bare_start_once(bindir, user)
    warm = _bare_start_once(bindir, user)
    return {"cold_s": cold, "warm_s": warm}


def _fleet_field(result: Any, name: str) -> Any:
    """A figure of the result's fleet section: a mapping today, a dataclass's attribute once
    the section is typed."""
    fleet = result.fleet
    return fleet[name] if isinstance(fleet, Mapping) else getattr(fleet, name)


def opening(connections: Any, target: int, duration: float) -> dict[str, float | None]:
    """How long the fleet took to hold all ``target`` connections (seconds from its start), and
    the share of the ideal lost meanwhile: the integral of the connections not yet open over
    the window, from the monitor's samples ((t, own connections), every 50 ms)."""
    points = sorted((float(t), int(n)) for t, n in connections if 0 <= t <= duration)
    full = next((t for t, n in points if n >= target), None)
    lost, last_t, last_n = 0.0, 0.0, 0
    for t, n in points:
        lost += (t - last_t) * max(0, target - last_n)
        last_t, last_n = t, n
    lost += (duration - last_t) * max(0, target - last_n)
    return {"all_open_s": full, "share_lost": round(lost / (target * duration), 4)}


def fleet_ok(result: Any) -> int:
    """The fleet's completions (the fleet section's ``ok``)."""
    return int(_fleet_field(result, "ok"))


def job_fleet(job: dict[str, Any]) -> dict[str, Any]:
    """``dbkit.run_fleet`` on the bench's server: ``pools`` pools of ``pool_size`` for
    ``duration`` s, holding each connection ``hold`` s; completions against the ideal
    connections x duration / hold, and which processes kept the CPUs busy in the window."""
    # Here, not above: the other jobs' heaps stay as they were measured before.
    import cpu

    import dbkit

    pools, size, duration, hold = job["pools"], job["pool_size"], job["duration"], job["hold"]
    services = [dbkit.Service("bench", replicas=pools, workers=1, pool_size=size)]
    start: list[float] = []  # perf_counter() at the fleet's common start

    def progress(status: Any) -> None:  # engine.status.Status: a fleet's seconds done of total
        elapsed, total = status.done, status.total
        if not start and 0 < elapsed < total:
            start.append(time.perf_counter() - elapsed)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    with cpu.Sampler(job.get("server_pid")) as sampler:
        called = time.perf_counter()
        result = dbkit.run_fleet(
            services,
            dbkit.ServerSpec(kind="dsn", dsn=job["app_dsn"]),
            duration=duration,
            hold=hold,
            concurrency=job.get("concurrency"),
            procs=job.get("procs"),
            progress=progress,
            cluster=job.get("cluster"),
        )
        call_s = time.perf_counter() - called
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    ok = fleet_ok(result)
    ideal = pools * size * duration / hold
    window = (start[0], start[0] + duration) if start else (called, called + call_s)
    run = result.runs[0]
    opened = opening(run.connections, pools * size, duration)
    open_ideal = ideal * (1 - float(opened["share_lost"] or 0.0))
    cores = sampler.cores(*window)
    per_ok = {}  # microseconds of CPU per completion
    for part in ("load", "server", "parent"):
        share = cores.get(part)
        per_ok[part] = None if share is None or not ok else round(share * duration / ok * 1e6)
    return {
        "pools": pools,
        "pool_size": size,
        "duration": duration,
        "hold": hold,
        "concurrency": run.params.get("concurrency"),
        "procs": job.get("procs"),
        "processes": _fleet_field(result, "processes"),
        "ok": ok,
        "failed": int(_fleet_field(result, "failed")),
        "ideal": ideal,
        "efficiency": ok / ideal,
        "call_s": call_s,
        "setup_s": run.setup_s,
        "errors": {f"{e.sqlstate or e.type}": e.count for e in run.errors},
        "peak_connections": run.peak_connections,
        "window_found": bool(start),
        "opening": opened,
        # completions over what the connections could do while open: the loss not due to opening
        "efficiency_while_open": ok / open_ideal if open_ideal > 0 else None,
        "cores": cores,
        "cpu_us_per_ok": per_ok,  # CPU each part spent per completion in the window
        "load_cpu_s": (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime),
        "cpu_count": os.cpu_count(),
        "executor": result.metadata.get("executor"),  # where the workers ran (a cluster's start_s)
    }


JOBS = {
    "run": job_run,
    "duration": job_duration,
    "bare_storm": job_bare_storm,
    "bare_qps": job_bare_qps,
    "server_start": job_server_start,
    "bare_start": job_bare_start,
    "fleet": job_fleet,
}


if __name__ == "__main__":
    job = json.loads(sys.argv[1])
    raise_fd_limit()  # as `dbkit run` does: storms open more sockets than the default 1024
    print(json.dumps(JOBS[job["kind"]](job)))
