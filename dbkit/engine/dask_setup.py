"""The cluster a fleet runs on (``--cluster``): what the option names, and starting a
LocalCluster or reaching a scheduler. The only module that imports ``distributed``, and only
once a cluster is asked for (engine/dask_cluster.py is the executor over it)."""

from __future__ import annotations

import contextlib
import logging
import random
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbkit.model.dsn import mask_text
from dbkit.model.error_counts import type_name
from dbkit.model.errors import ConfigError, DbkitError
from dbkit.servers.embedded import PORTS_BELOW_EPHEMERAL

LOCAL = "local:"
MAX_LOCAL_WORKERS = 64
CONNECT_S = 10.0  # the longest a Client waits for the scheduler
SCHEMES = ("tcp", "tls", "ws", "wss")
_ADDRESS = re.compile(
    r"^(?:(?P<scheme>[a-z]+)://)?(?P<host>\[[0-9a-fA-F:]+\]|[\w.-]+):(?P<port>\d+)$"
)
# A worker's own statistical profiler samples every thread's stack every 10 ms: load the
# measured event loop does not need (the fleet's figures are the kit's own). Set for the
# LocalCluster's workers; a cluster's own workers are set up by whoever runs them
# (docs/fleets-on-dask.md).
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


@dataclass(frozen=True)
class ClusterSpec:
    """Where a fleet runs on Dask: a scheduler's ``address``, or ``local`` worker processes of
    a LocalCluster on this machine."""

    address: str | None = None
    local: int | None = None

    @classmethod
    def parse(cls, text: str) -> ClusterSpec:
        """``local:N`` (1 to 64 worker processes) or a scheduler address
        (``tcp://host:8786``, ``host:8786``; tcp, tls, ws or wss). Raises ConfigError."""
        text = text.strip()
        if text.startswith(LOCAL):
            count = text[len(LOCAL) :]
            if not count.isdigit() or not 1 <= int(count) <= MAX_LOCAL_WORKERS:
                raise ConfigError(
                    f"cluster: local:N takes 1 to {MAX_LOCAL_WORKERS} worker processes "
                    f"(got {text!r})"
                )
            return cls(local=int(count))
        match = _ADDRESS.match(text)
        if match is None or (match["scheme"] or "tcp") not in SCHEMES:
            raise ConfigError(
                f"cluster: expected a scheduler address such as tcp://host:8786 "
                f"({', '.join(SCHEMES)}) or local:N (got {text!r})"
            )
        if not 0 < int(match["port"]) < 65536:
            raise ConfigError(f"cluster: port out of range in {text!r}")
        return cls(address=text if match["scheme"] else f"tcp://{text}")

    def __str__(self) -> str:
        return f"{LOCAL}{self.local}" if self.local is not None else str(self.address)


def require_dask() -> Any:
    """The ``distributed`` module; ConfigError when it is not installed."""
    try:
        import distributed
    except ImportError:
        raise ConfigError(
            "cluster: fleets on a cluster run on Dask distributed, which is not installed: "
            "pip install 'dbkit[dask]'"
        ) from None
    return distributed


def open_cluster(spec: ClusterSpec) -> tuple[Any, Any]:
    """(a ``distributed.Client``, the local cluster it is connected to or None): a cluster of
    ``spec.local`` worker processes (one thread each, each under its nanny, on 127.0.0.1, no
    dashboard, as a LocalCluster) started here, or a client of the scheduler at
    ``spec.address``. DbkitError when it cannot be started or reached."""
    distributed = require_dask()
    cluster = None
    try:
        if spec.local is None:
            return distributed.Client(spec.address, timeout=CONNECT_S, set_as_default=False), None
        import dask

        with dask.config.set(WORKER_CONFIG):  # the nannies hand their config to the workers
            cluster = _local_cluster(distributed, spec.local)
        return distributed.Client(cluster, set_as_default=False), cluster
    except (OSError, TimeoutError, RuntimeError) as exc:  # RuntimeError: a start failed
        if cluster is not None:
            cluster.close()
        what = "cannot start it" if spec.local is not None else "cannot reach it"
        raise DbkitError(f"cluster {spec}: {what}: {why(exc)}") from None


def _free_port() -> int:
    # Below the ephemeral range, where no client's connect() takes a port between this probe
    # and the cluster's bind, as it may take an ephemeral one during a storm.
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    for port in random.sample(range(max(1024, low - PORTS_BELOW_EPHEMERAL), low), 200):
        with contextlib.suppress(OSError), socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
            return port
    raise DbkitError("cluster: no free TCP port on 127.0.0.1 below the ephemeral range")


def _local_cluster(distributed: Any, workers: int) -> Any:
    # A LocalCluster, with every port chosen below the ephemeral range, as the embedded
    # server's fallback does (servers.embedded.free_port): Dask's own choice is the kernel's
    # ephemeral pick, which fails outright while a storm on this machine holds them all.
    def at(port: int) -> str:
        return f"127.0.0.1:{port}"

    quiet = logging.CRITICAL  # a lost worker is reported, not logged
    scheduler = {
        "cls": distributed.Scheduler,
        "options": {
            "host": "127.0.0.1",
            "port": _free_port(),
            "dashboard": False,
            "dashboard_address": at(_free_port()),  # its HTTP endpoints (health, metrics)
        },
    }
    nannies = {
        i: {
            "cls": distributed.Nanny,
            "options": {
                "host": "127.0.0.1",
                "nthreads": 1,
                "port": _free_port(),
                "worker_port": _free_port(),  # kept when the nanny restarts a dead worker
                "dashboard": False,
                "dashboard_address": at(_free_port()),
                "silence_logs": quiet,
            },
        }
        for i in range(workers)
    }
    return distributed.SpecCluster(workers=nannies, scheduler=scheduler, silence_logs=quiet)


def why(exc: BaseException) -> str:
    """An exception as one line, by its root cause (Dask wraps "failed to start" in layers)."""
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return f"{type_name(type(root))}: {mask_text(str(root))[:300]}"
