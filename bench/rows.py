"""The bench's rows: each measures the kit and its reference in the same run, then judges a goal.

Every kit figure comes from a fresh interpreter (bench/worker.py) so that no measurement
inherits another's heap or imports; pgbench and the bare scripts are the references.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from dbkit.servers.base import APP_ROLE
from dbkit.servers.embedded import EmbeddedServer, find_bindir

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORKER = BENCH / "worker.py"
POST = BENCH / "post_reference.py"
JOB_TIMEOUT_S = 600
SELECT1 = "SELECT 1"
QPS_QUERIES_PER_TASK = 100  # a task holds its connection for 100 statements, as a pgbench client
MB = 1024  # kB per MB (binary), as /proc reports kB


class BenchError(Exception):
    """A measurement could not be taken; its row says so instead of failing the bench."""


@dataclass(frozen=True)
class Goal:
    """``on`` the row's ``ratio`` or ``kit`` figure (or ``none``), ``op`` one of >=, <=, <."""

    on: str
    op: str
    value: float
    text: str

    def met(self, kit: float | None, ratio: float | None) -> bool | None:
        figure = ratio if self.on == "ratio" else kit
        if figure is None or self.on == "none":
            return None
        if self.op == ">=":
            return figure >= self.value
        if self.op == "<=":
            return figure <= self.value
        return figure < self.value


@dataclass
class Row:
    """One line of the table, with the raw figures it was computed from."""

    group: str
    name: str
    unit: str
    goal: Goal
    kit: float | None = None
    reference: float | None = None
    ratio: float | None = None
    note: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        return self.goal.met(self.kit, self.ratio)

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "name": self.name,
            "unit": self.unit,
            "kit": self.kit,
            "reference": self.reference,
            "ratio": self.ratio,
            "goal": {"on": self.goal.on, "op": self.goal.op, "value": self.goal.value},
            "goal_text": self.goal.text,
            "met": self.met,
            "note": self.note,
            "raw": self.raw,
        }


@dataclass(frozen=True)
class Settings:
    """How big and how long: the full bench, or ``--quick`` for a smoke pass."""

    pool_tasks: int
    sleep_counts: tuple[int, ...]
    repeats: int
    duration_s: int
    calibration_tasks: int
    storm_tasks: int


FULL = Settings(1000, (10_000, 100_000), 3, 5, 300, 1000)
QUICK = Settings(100, (1_000, 10_000), 1, 2, 50, 300)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


# -- running things -------------------------------------------------------------------------


def work(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh interpreter (bench/worker.py); its JSON answer."""
    return _json_process([sys.executable, str(WORKER), json.dumps(job)])


def _json_process(cmd: list[str]) -> dict[str, Any]:
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, cwd=ROOT, timeout=JOB_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"timed out after {JOB_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"exit {done.returncode}: {tail}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def guarded(row: Row, measure: Callable[[Row], None]) -> Row:
    """Fill ``row`` with ``measure``; a failure becomes the row's note, not the bench's end."""
    try:
        measure(row)
    except (BenchError, OSError, ValueError, KeyError) as exc:
        row.note = f"not measured: {exc}"
    say(f"  {row.name}: kit {_short(row.kit)} ref {_short(row.reference)} {row.note}")
    return row


def _short(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def kit_job(server: EmbeddedServer, loop: str, **spec: Any) -> dict[str, Any]:
    return {
        "kind": "run",
        "loop": loop,
        "app_dsn": server.app_dsn,
        "admin_dsn": server.admin_dsn,
        "spec": spec,
    }


def pgbench(
    server: EmbeddedServer,
    clients: int,
    seconds: int,
    *,
    reconnect: bool = False,
    protocol: str = "prepared",
    port: int | None = None,
    password: str | None = None,
    database: str = "postgres",
) -> dict[str, Any]:
    """pgbench on the kit's server with a ``SELECT 1;`` script; its tps and counts.

    ``port`` (with ``password`` and ``database``) point it elsewhere on 127.0.0.1, as at a
    PgBouncer in front of the server; ``protocol`` is its ``-M`` when it keeps its connections.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix="select1-") as script:
        script.write("SELECT 1;\n")
        script.flush()
        cmd = [
            str(find_bindir() / "pgbench"), "-h", "127.0.0.1", "-p", str(port or server.port),
            "-U", APP_ROLE, "-n", "-c", str(clients), "-j", "2", "-T", str(seconds),
            "-f", script.name,
        ]  # fmt: skip
        cmd += ["-C"] if reconnect else ["-M", protocol]
        cmd.append(database)
        # Same transport as the kit's DSN (sslmode=disable): no SSL or GSS negotiation.
        env = {**os.environ, "PGSSLMODE": "disable", "PGGSSENCMODE": "disable"}
        if password is not None:
            env["PGPASSWORD"] = password
        done = subprocess.run(
            cmd, capture_output=True, text=True, env=env, timeout=seconds + 60, check=False
        )
    tps = re.search(r"^tps = ([\d.]+)", done.stdout, re.M)
    if done.returncode != 0 or tps is None:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise BenchError(f"pgbench exit {done.returncode}: {tail}")
    processed = re.search(r"actually processed: (\d+)", done.stdout)
    return {
        "command": " ".join(cmd[0:1] + [Path(c).name if c == script.name else c for c in cmd[1:]]),
        "tps": float(tps.group(1)),
        "transactions": int(processed.group(1)) if processed else None,
        "seconds": seconds,
    }


# -- 1. pool efficiency ---------------------------------------------------------------------


def pool_rows(server: EmbeddedServer, cfg: Settings) -> list[Row]:
    """Wall time of pg_sleep tasks through a pool against the ideal ceil(N/P) x 0.3 s.

    Each row is the median of ``cfg.repeats`` runs; the rows' runs alternate (every row once,
    then every row again), so that drifting load on the machine falls on all of them alike.
    """
    say("1. pool efficiency")
    shapes = [
        (strategy, goal, size)
        for strategy, goal in (("pool", 0.97), ("sqlalchemy", 0.95))
        for size in (90, 10)
    ]
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    errors: dict[tuple[str, int], str] = {}
    for repeat in range(cfg.repeats):
        for strategy, _, size in shapes:
            try:
                runs.setdefault((strategy, size), []).append(_pool_run(server, cfg, strategy, size))
            except BenchError as exc:
                errors[(strategy, size)] = str(exc)
                say(f"  {strategy} pool {size}, run {repeat + 1}: {exc}")
    rows = []
    for strategy, goal, size in shapes:
        label = "asyncpg" if strategy == "pool" else "SQLAlchemy"
        row = Row(
            "pool", f"{label} pool {size}: efficiency", "s",
            Goal("ratio", ">=", goal, f"eff >= {goal}"),
        )  # fmt: skip
        done, error = runs.get((strategy, size), []), errors.get((strategy, size))
        rows.append(guarded(row, partial(_pool, runs=done, error=error, repeats=cfg.repeats)))
    return rows


def _pool_run(server: EmbeddedServer, cfg: Settings, strategy: str, size: int) -> dict[str, Any]:
    spec: dict[str, Any] = {"strategy": strategy, "tasks": cfg.pool_tasks, "pool_size": size}
    if strategy == "sqlalchemy":
        # SQLAlchemy's 30 s pool_timeout would fail the last tasks of the 30 s pool-10 run;
        # asyncpg's pool waits forever. Same footing: measure the pool, not the default.
        spec["acquire_timeout"] = 600.0
    return work(kit_job(server, "asyncio", **spec))


def _pool(row: Row, runs: list[dict[str, Any]], error: str | None, repeats: int) -> None:
    if not runs:
        raise BenchError(error or "no run")
    row.kit = statistics.median(r["wall_s"] for r in runs)
    row.reference = runs[0]["ideal_s"]
    row.ratio = statistics.median(r["efficiency"] for r in runs)
    oks = "/".join(str(r["ok"]) for r in runs)
    low, high = min(r["efficiency"] for r in runs), max(r["efficiency"] for r in runs)
    of = f"median of {len(runs)} ({low:.3f}-{high:.3f})" if len(runs) > 1 else "one run"
    row.note = f"{of}; {oks} of {runs[0]['tasks']} ok; ideal ceil(N/P) x 0.3 s"
    if error is not None:
        row.note += f"; a run failed: {error}"
    row.raw = {
        "statistic": f"median of {repeats} fresh-process runs, alternating with the other rows'",
        "efficiency": [r["efficiency"] for r in runs],  # bench/compare.py: the row's spread
        "wall_s": [r["wall_s"] for r in runs],
        "runs": runs,
    }


# -- 3. query throughput ceiling ------------------------------------------------------------

SPREAD = (("asyncio", 1), ("uvloop", 1), ("uvloop", 2))  # (event loop, load processes)


def bracketed_pgbench(
    server: EmbeddedServer,
    clients: int,
    seconds: int,
    reconnect: bool,
    kit_rows: list[Row],
    **options: Any,
) -> Callable[[], None]:
    """pgbench now; the returned call runs it again and gives ``kit_rows`` the mean of both.

    Other load on the machine drifts; measuring the reference before and after the kit's
    runs, and keeping both, shows how much.
    """
    runs: list[dict[str, Any]] = []
    errors: list[str] = []

    def one() -> None:
        try:
            runs.append(pgbench(server, clients, seconds, reconnect=reconnect, **options))
        except BenchError as exc:
            errors.append(str(exc))

    def finish() -> None:
        one()
        ref = statistics.mean(r["tps"] for r in runs) if runs else None
        for row in kit_rows:
            row.reference, row.ratio = ref, ratio(row.kit, ref)
            row.raw["pgbench"] = runs
            if ref is None:
                row.note = f"pgbench could not run: {errors[-1]}"
        say(f"  pgbench -c {clients}{' -C' if reconnect else ''}: {[r['tps'] for r in runs]}")

    one()
    return finish


def qps_rows(server: EmbeddedServer, cfg: Settings) -> list[Row]:
    """SELECT 1 through the kit's asyncpg pool against pgbench -M prepared, same clients."""
    say("3. query throughput")
    rows: list[Row] = []
    for size in (10, 50):
        group: list[Row] = []
        finish = bracketed_pgbench(server, size, cfg.duration_s, False, group)
        bare = {loop: _bare_qps(server, cfg, size, loop) for loop in ("asyncio", "uvloop")}
        for loop, procs in SPREAD:
            name = f"SELECT 1 qps, pool {size}, {loop}" + (f" x{procs} procs" if procs > 1 else "")
            row = Row("qps", name, "q/s", Goal("ratio", ">=", 0.6, ">= 0.6x pgbench"))
            measure = partial(_qps, server=server, cfg=cfg, size=size, loop=loop, procs=procs)
            group.append(guarded(row, measure))
            if procs == 1 and bare[loop] is not None:
                row.raw["bare_asyncpg"] = bare[loop]
                row.note += f"; bare asyncpg {bare[loop]['qps']:,.0f} q/s"
        finish()
        rows += group
    return rows


def _bare_qps(server: EmbeddedServer, cfg: Settings, size: int, loop: str) -> dict[str, Any] | None:
    """asyncpg alone: ``size`` connections, each running SELECT 1 in a loop until a deadline."""
    job = {"kind": "bare_qps", "app_dsn": server.app_dsn, "clients": size, "loop": loop}
    try:
        return work({**job, "seconds": cfg.duration_s})
    except BenchError as exc:
        say(f"  bare asyncpg qps ({loop}): {exc}")
        return None


def _qps(row: Row, server: EmbeddedServer, cfg: Settings, size: int, loop: str, procs: int) -> None:
    job = kit_job(
        server, loop, strategy="pool", pool_size=size, sql=SELECT1,
        queries=QPS_QUERIES_PER_TASK, commit=True, procs=procs,
    )  # fmt: skip
    job.update(kind="duration", seconds=cfg.duration_s, calibration_tasks=cfg.calibration_tasks)
    run = work(job)
    row.kit = run["throughput_qps"]
    row.note = f"{run['tasks']} tasks x {QPS_QUERIES_PER_TASK} in {run['wall_s']:.1f} s"
    row.raw = {"kit": run}


# -- 4. connection setup rate ---------------------------------------------------------------


def connect_rows(server: EmbeddedServer, cfg: Settings) -> list[Row]:
    """Unpooled connect + SELECT 1 + close (semaphore 10) against pgbench -C -c 10."""
    say("4. connection setup rate")
    rows: list[Row] = []
    finish = bracketed_pgbench(server, 10, cfg.duration_s, True, rows)
    for loop, procs in SPREAD:
        name = f"connect+SELECT 1+close, 10 at once, {loop}" + (f" x{procs}" if procs > 1 else "")
        row = Row("connect", name, "conn/s", Goal("ratio", ">=", 0.9, ">= 0.9x pgbench -C"))
        measure = partial(_connect, server=server, cfg=cfg, loop=loop, procs=procs)
        rows.append(guarded(row, measure))
    finish()
    return rows


def _connect(row: Row, server: EmbeddedServer, cfg: Settings, loop: str, procs: int) -> None:
    job = kit_job(
        server, loop, strategy="semaphore", limit=10, sql=SELECT1, queries=1, commit=True,
        procs=procs,
    )  # fmt: skip
    job.update(kind="duration", seconds=cfg.duration_s, calibration_tasks=cfg.calibration_tasks)
    run = work(job)
    row.kit = run["ok"] / run["wall_s"]
    row.note = f"{run['ok']}/{run['tasks']} ok in {run['wall_s']:.1f} s"
    row.raw = {"kit": run}


# -- 5. storm detection ---------------------------------------------------------------------


def storm_row(server: EmbeddedServer, cfg: Settings) -> Row:
    """Every outcome of an unbatched storm, against one bare asyncpg gather of the same tasks;
    the median of ``cfg.repeats`` of each, the kit's and the bare runs alternating."""
    say("5. storm detection")
    row = Row("storm", f"storm: {cfg.storm_tasks} unbatched, all outcomes", "s",
              Goal("kit", "<", 3.0, "< 3 s"))  # fmt: skip
    return guarded(row, lambda r: _storm(r, server, cfg))


def _storm(row: Row, server: EmbeddedServer, cfg: Settings) -> None:
    # hold 0.1: the tasks that get a slot keep it as the failing service's do, so the
    # refusals (53300) are certain rather than a race against fast-closing connections.
    spec = {"strategy": "unbatched", "tasks": cfg.storm_tasks, "queries": 1, "hold": 0.1}
    bare_job = {"kind": "bare_storm", "app_dsn": server.app_dsn, "tasks": cfg.storm_tasks,
                "hold": 0.1}  # fmt: skip
    kits: list[dict[str, Any]] = []
    bares: list[dict[str, Any]] = []
    for repeat in range(cfg.repeats):
        # the kit first in even repeats, the bare gather first in odd ones
        for who in ("kit", "bare") if repeat % 2 == 0 else ("bare", "kit"):
            if who == "kit":
                kits.append(work(kit_job(server, "asyncio", **spec)))
            else:
                bares.append(work(bare_job))
    row.kit = statistics.median(r["wall_s"] for r in kits)
    row.reference = statistics.median(r["wall_s"] for r in bares)
    row.ratio = ratio(row.kit, row.reference)
    run, bare = kits[0], bares[0]
    states = {e["sqlstate"] or e["type"]: e["count"] for e in run["errors"]}
    walls = ", ".join(f"{r['wall_s']:.2f}" for r in kits)
    of = f"median of {len(kits)} ({walls} s); first run: " if len(kits) > 1 else ""
    row.note = f"{of}kit {run['ok']} ok, {states}; bare {bare['ok']} ok, {bare['errors']}"
    row.raw = {
        "statistic": f"median of {cfg.repeats} fresh-process runs each, kit and bare alternating",
        "kit_wall_s": [r["wall_s"] for r in kits],  # bench/compare.py: the row's spread
        "bare_wall_s": [r["wall_s"] for r in bares],
        "kit_runs": kits,
        "bare_runs": bares,
        "hold": 0.1,
        "queries": 1,
    }


# -- 2. the sleep baseline (and 5b, memory) -------------------------------------------------


def sleep_rows(cfg: Settings) -> list[Row]:
    """The kit's sleep strategy against the bare post script, alternating, best of repeats."""
    say("2. sleep baseline")
    samples: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for count in cfg.sleep_counts:
        for mode in ("unbatched", "batched"):
            for _ in range(cfg.repeats):
                for who in ("bare", "asyncio", "uvloop"):
                    key = (who, count, mode)
                    try:
                        samples.setdefault(key, []).append(_sleep_once(who, count, mode))
                    except BenchError as exc:
                        say(f"  {key}: {exc}")
    rows = []
    for count in cfg.sleep_counts:
        for mode in ("unbatched", "batched"):
            bare = samples.get(("bare", count, mode), [])
            for loop in ("asyncio", "uvloop"):
                kit = samples.get((loop, count, mode), [])
                rows.append(_sleep_row(count, mode, loop, kit, bare, cfg.repeats))
    rows.append(_rss_row(samples, max(cfg.sleep_counts)))
    return rows


def _sleep_once(who: str, count: int, mode: str) -> dict[str, Any]:
    if who == "bare":
        return _json_process([sys.executable, str(POST), str(count), mode])
    spec = {"strategy": "sleep", "tasks": count, "mode": mode}
    return work({"kind": "run", "loop": who, "spec": spec})


def _sleep_row(
    count: int,
    mode: str,
    loop: str,
    kit: list[dict[str, Any]],
    bare: list[dict[str, Any]],
    repeats: int,
) -> Row:
    if loop == "asyncio":
        goal = Goal("ratio", "<=", 1.10, "<= 1.10x bare")
    else:
        goal = Goal("ratio", "<", 1.0, "< 1.0x bare asyncio")
    row = Row("sleep", f"sleep {count:,} {mode}, {loop}", "s", goal)
    if kit and bare:
        row.kit = min(s["call_s"] for s in kit)
        row.reference = min(s["call_s"] for s in bare)
        row.ratio = ratio(row.kit, row.reference)
        row.note = f"best of {len(kit)}; " + _heaps(kit[0], bare[0])
    else:
        row.note = "not measured"
    row.raw = {
        "statistic": f"min of {repeats} alternating fresh-process runs",
        "kit_call_s": [s["call_s"] for s in kit],
        "kit_wall_s": [s["wall_s"] for s in kit],
        "kit_hwm_kb": [s["hwm_kb"] for s in kit],
        "bare_call_s": [s["call_s"] for s in bare],
        "bare_hwm_kb": [s["hwm_kb"] for s in bare],
    }
    say(f"  {row.name}: kit {_short(row.kit)} bare {_short(row.reference)}")
    return row


def _heaps(kit: dict[str, Any], bare: dict[str, Any]) -> str:
    """Why big runs differ: each full collection walks the heap the imports left behind."""
    return (
        f"heap before the run {kit['gc_tracked_before'] / 1000:.0f}k objects (bare "
        f"{bare['gc_tracked_before'] / 1000:.0f}k), full GCs {kit['gc_full_collections']} "
        f"(bare {bare['gc_full_collections']})"
    )


def _rss_row(samples: dict[tuple[str, int, str], list[dict[str, Any]]], count: int) -> Row:
    """Peak RSS the run added (VmHWM - VmRSS before it), per 100,000 recorded sleep tasks."""
    row = Row("memory", f"peak RSS per 100k tasks (sleep {count:,} unbatched)", "MB",
              Goal("kit", "<", 60.0, "< 60 MB"))  # fmt: skip
    kit = samples.get(("asyncio", count, "unbatched"), [])
    bare = samples.get(("bare", count, "unbatched"), [])
    scale = 100_000 / count / MB

    def grown(s: dict[str, Any]) -> float:
        return (s["hwm_kb"] - s["rss_before_kb"]) * scale

    if kit and bare:
        row.kit = statistics.median(grown(s) for s in kit)
        row.reference = statistics.median(grown(s) for s in bare)
        row.ratio = ratio(row.kit, row.reference)
        peak = max(s["hwm_kb"] for s in kit) / MB
        row.note = (
            f"the post's workload alone takes {row.reference:.0f} MB; the kit adds "
            f"{row.kit - row.reference:.1f} MB (process peak {peak:.0f} MB in all)"
        )
    row.raw = {"tasks": count, "statistic": "median", "kit": kit, "bare": bare}
    return row


# -- 6. start-up ----------------------------------------------------------------------------


def start_rows(cfg: Settings) -> list[Row]:
    """Embedded server cold/warm start against the bare binaries, and the CLI's overhead: each
    the median of ``cfg.repeats`` runs, the kit's and the bare binaries' alternating (which goes
    first flips each repeat), every run kept."""
    say("6. start-up")
    cold = Row("start", "embedded server cold start", "s", Goal("kit", "<=", 1.5, "<= 1.5 s"))
    warm = Row("start", "embedded server warm start", "s", Goal("none", "<=", 0.0, "-"))
    cli = Row("start", "dbkit run pool: overhead", "s", Goal("kit", "<=", 2.5, "<= 2.5 s"))
    kits: list[dict[str, Any]] = []
    bares: list[dict[str, Any]] = []
    try:
        for repeat in range(cfg.repeats):
            jobs = [("kit", "server_start"), ("bare", "bare_start")]
            for side, kind in jobs if repeat % 2 == 0 else jobs[::-1]:
                (kits if side == "kit" else bares).append(work({"kind": kind}))
    except BenchError as exc:
        cold.note = warm.note = f"not measured: {exc}"
    else:
        for row, key in ((cold, "cold_s"), (warm, "warm_s")):
            row.kit = statistics.median(k[key] for k in kits)
            row.reference = statistics.median(b[key] for b in bares)
            row.ratio = ratio(row.kit, row.reference)
            row.note = f"median of {len(kits)}; reference: bare initdb + postgres until ready"
            row.raw = {"kit": kits, "bare": bares, "kit_s": [k[key] for k in kits],
                       "bare_s": [b[key] for b in bares]}  # fmt: skip
    guarded(cli, lambda r: _cli_overhead(r, cold.reference, cfg.repeats))
    return [cold, warm, cli]


def _cli_overhead(row: Row, bare_cold: float | None, repeats: int) -> None:
    dbkit = Path(sys.executable).parent / "dbkit"
    totals, walls = [], []
    with tempfile.TemporaryDirectory(prefix="dbkit-bench-") as tmp:
        cmd = [str(dbkit), "run", "pool", "--tasks", "100", "--pool-size", "10", "--hold", "0.1",
               "--json", "--results-dir", tmp]  # fmt: skip
        for _ in range(repeats):
            started = time.perf_counter()
            doc = _json_document(cmd)
            totals.append(time.perf_counter() - started)
            walls.append(doc["runs"][0]["wall_s"])
    interp = _interpreter_start()
    overheads = [t - w for t, w in zip(totals, walls, strict=True)]
    row.kit = statistics.median(overheads)
    row.reference = interp + bare_cold if bare_cold is not None else None
    row.ratio = ratio(row.kit, row.reference)
    row.note = (
        f"median of {len(overheads)} (each: seconds in all - the run's wall_s); ref: python "
        "start + bare start"
    )
    row.raw = {"command": cmd[1:-1], "total_s": totals, "wall_s": walls,
               "kit_s": overheads, "python_start_s": interp}  # fmt: skip


def _json_document(cmd: list[str]) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=JOB_TIMEOUT_S)
    if done.returncode != 0:
        raise BenchError(f"dbkit exit {done.returncode}: {done.stderr.strip()[-200:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _interpreter_start() -> float:
    """Best of three bare interpreter starts (``python -c pass``)."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - started)
    return min(times)
