"""What is refused before anything runs: one rule each, for every entry point.

``run_experiment`` (behind `run`, `scenario` and `sweep`) and ``run_fleet`` (behind `fleet`)
both pass through these checks, so a library caller gets the same refusals as the CLI:

- ``check_fits``: a bounded strategy larger than the server allows at all;
- ``check_storm``: on a server dbkit did not start, more connections than are free there;
- ``check_memory``: more pending tasks than half the available memory holds;
- ``check_open_files``: more sockets in one process than its open-files limit lets it open;
- ``check_pooled_clients`` and ``check_pooled``: in place of ``check_fits`` for a run through
  a pooler: the run's bounded peak against max_client_conn, the pooler's pool (plus its
  reserve) against the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
from collections.abc import Iterable, Sequence

from dbkit.engine.machine import meminfo_bytes
from dbkit.engine.pooled import CONSOLE_SLOTS
from dbkit.model.errors import ConfigError
from dbkit.model.faults import Fault
from dbkit.model.pooler import PoolerSpec
from dbkit.model.spec import RunSpec
from dbkit.servers import Server, ServerInfo
from dbkit.servers.base import read_in_use
from dbkit.strategies import get_strategy
from dbkit.strategies.shares import split

MONITOR_SLOTS = 1  # the monitor's own connection
# Files a load process holds besides its sockets: stdio, pipes to the parent, the event loop's
# selector and self-pipe, the monitor, imported modules being read.
OWN_FILES = 64


def check_fits(spec: RunSpec, info: ServerInfo) -> None:
    """Refuse a bounded strategy (a pool, a semaphore) larger than the server allows."""
    strategy = get_strategy(spec.strategy)
    if not strategy.bounded(spec):
        return  # unbatched and batched storms are the experiment itself
    peak = strategy.peak_connections(spec)
    allowed = info.app_slots - MONITOR_SLOTS
    if peak is not None and peak > allowed:
        reserved = f"{info.superuser_reserved_connections} superuser-reserved"
        if info.reserved_connections:
            reserved += f" - {info.reserved_connections} reserved"
        raise ConfigError(
            f"{spec.name} may open {peak} connections but the server allows {allowed} for "
            f"role {info.app_role} (max_connections {info.max_connections} - {reserved} - "
            f"{MONITOR_SLOTS} monitor)"
        )


def check_pooled_clients(spec: RunSpec, pooler: PoolerSpec) -> None:
    """Refuse, before any server starts, a run through ``pooler`` that cannot run as asked: a
    statement timeout (sent as a startup parameter, which PgBouncer refuses: 08P01), or a
    bounded strategy with more connections than the pooler takes clients."""
    if spec.statement_timeout is not None:
        raise ConfigError(
            f"{spec.name}: statement_timeout is sent as a startup parameter, which PgBouncer "
            "refuses (08P01): drop it for a run through the pooler"
        )
    strategy = get_strategy(spec.strategy)
    peak = strategy.peak_connections(spec)
    if pooler.max_client_conn is None:
        return  # sized to the run (engine/pooled.py)
    clients = pooler.max_client_conn - CONSOLE_SLOTS
    if strategy.bounded(spec) and peak is not None and peak > clients:
        raise ConfigError(
            f"{spec.name} may open {peak} connections but the pooler takes {clients} clients "
            f"(max_client_conn {pooler.max_client_conn} - {CONSOLE_SLOTS} console)"
        )


def check_fleet_clients(peak: int, pooler: PoolerSpec, statement_timeout: float | None) -> None:
    """A fleet through ``pooler``: no statement timeout (a startup parameter PgBouncer
    refuses), and its planned peak within max_client_conn when that is given."""
    if statement_timeout is not None:
        raise ConfigError(
            "fleet: statement_timeout is sent as a startup parameter, which PgBouncer refuses "
            "(08P01): drop it for a fleet through the pooler"
        )
    if pooler.max_client_conn is not None and peak > pooler.max_client_conn - CONSOLE_SLOTS:
        raise ConfigError(
            f"fleet may open {peak} connections but the pooler takes "
            f"{pooler.max_client_conn - CONSOLE_SLOTS} clients (max_client_conn "
            f"{pooler.max_client_conn} - {CONSOLE_SLOTS} console)"
        )


def check_pooled(pooler: PoolerSpec, info: ServerInfo) -> None:
    """Refuse a pooler whose pool (plus its reserve, within max_db_connections) may open more
    connections than the server allows the role: with a pooler, that is the server-side peak."""
    server_peak = pooler.pool_size + pooler.reserve_pool_size
    if pooler.max_db_connections:
        server_peak = min(server_peak, pooler.max_db_connections)
    allowed = info.app_slots - MONITOR_SLOTS
    if server_peak > allowed:
        raise ConfigError(
            f"the pooler may open {server_peak} server connections (pool size "
            f"{pooler.pool_size} + reserve {pooler.reserve_pool_size}) but the server allows "
            f"{allowed} for role {info.app_role} ({MONITOR_SLOTS} kept for the monitor)"
        )


def check_storm(server: Server, peaks: Iterable[tuple[str, int]], allow_storm: bool) -> None:
    """On a server dbkit did not start (backend ``dsn``), refuse any ``(name, connections)``
    that may take more connections than are free there, unless ``allow_storm``.

    Free = max_connections - slots the role cannot use - clients in use now - the monitor.
    """
    if server.backend != "dsn" or allow_storm:
        return
    in_use = asyncio.run(read_in_use(server.admin_dsn))
    for name, peak in peaks:
        check_free(name, peak, server.info, in_use)


def check_free(name: str, peak: int, info: ServerInfo, in_use: int) -> None:
    """Refuse ``name`` if its ``peak`` connections exceed those free with ``in_use`` taken."""
    free = info.app_slots - in_use - MONITOR_SLOTS
    if peak > free:
        raise ConfigError(
            f"{name} may open {peak} connections but only {free} are free on this server "
            f"(max_connections {info.max_connections} - {info.app_reserved} reserved - "
            f"{in_use} in use - {MONITOR_SLOTS} monitor); --allow-storm runs it anyway"
        )


def peak_of(spec: RunSpec) -> int:
    """The most connections ``spec`` may have open (or be opening) at once, in all processes."""
    return get_strategy(spec.strategy).peak_connections(spec) or 0


MEMORY_SHARE = 0.5


def check_memory(spec: RunSpec) -> None:
    """Refuse a run whose tasks alone would take more than half the available memory."""
    need = spec.tasks * get_strategy(spec.strategy).task_bytes
    available = meminfo_bytes("MemAvailable")
    if available is not None and need > MEMORY_SHARE * available:
        raise ConfigError(
            f"{spec.tasks:,} {spec.strategy} tasks need about {need / 2**30:.1f} GiB; only "
            f"{available / 2**30:.1f} GiB of memory is available (limit: half of it)"
        )


def raise_fd_limit(need: int = 0) -> int | None:
    """Storms open thousands of sockets: lift the soft open-files limit to the hard one, and
    the hard one to ``need`` where the process may (CAP_SYS_RESOURCE, up to fs.nr_open).

    Returns the limit now in force (None: unlimited). Child processes inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and need > hard:
        with contextlib.suppress(ValueError, OSError):  # not privileged: the hard limit stays
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def check_open_files(name: str, sockets: int) -> None:
    """Refuse ``name`` if one process of it may open more sockets than the open-files limit
    this process can reach allows: the run would measure EMFILE (OSError 24), not the server.
    """
    need = sockets + OWN_FILES
    limit = raise_fd_limit(need)
    if limit is None or need <= limit:
        return
    raise ConfigError(
        f"{name} may open {sockets:,} sockets in one process but its open-files limit is "
        f"{limit:,} (ulimit -Hn, which dbkit cannot raise; {OWN_FILES} kept for its own files): "
        "raise the hard limit (ulimit -Hn, systemd LimitNOFILE), spread the load over --procs, "
        "or bound the connections (pool, semaphore, batched)"
    )


def check_runs(runs: Sequence[RunSpec]) -> None:
    """The checks that need no server, for every entry point before anything starts: memory,
    open files per process (a --procs run's largest share), and a stop fault last."""
    for spec in runs:
        check_memory(spec)
        parts = split(spec, spec.procs) if spec.procs > 1 else [spec]
        check_open_files(spec.name, max(peak_of(part) for part in parts))
    check_stop_is_last(runs)


def check_stop_is_last(runs: Sequence[RunSpec]) -> None:
    """A stop fault leaves no server for the runs after it: refuse before anything runs."""
    for i, spec in enumerate(runs):
        if spec.fault is not None and Fault.parse(spec.fault).kind == "stop":
            later = [s.name for s in runs[i + 1 :] if get_strategy(s.strategy).needs_server]
            if later:
                raise ConfigError(
                    f"{spec.name}: a stop fault leaves no server for the runs after it "
                    f"({', '.join(later)}); make it the last run, or use restart"
                )
