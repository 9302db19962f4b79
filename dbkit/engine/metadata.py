"""What makes a result's numbers meaningful: the server's settings, versions, the machine."""

from __future__ import annotations

import datetime as dt
import gc
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dbkit.engine.machine import package_version
from dbkit.model.dsn import mask_secrets
from dbkit.model.pooler import PoolerInfo
from dbkit.model.server_info import ServerInfo


def collect_metadata(
    info: ServerInfo | None,
    loop: str,
    command: Sequence[str],
    started_at: dt.datetime,
    pooler: PoolerInfo | None = None,
) -> dict[str, Any]:
    """What makes the numbers meaningful: server settings, versions, machine, command line;
    the pooler the runs went through (kind, version, settings), when there was one."""
    meta: dict[str, Any] = {
        "dbkit_version": package_version("dbkit"),
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": [mask_secrets(arg) for arg in command],
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "asyncpg": package_version("asyncpg"),
        "sqlalchemy": package_version("sqlalchemy"),
        "uvloop": package_version("uvloop") if loop == "uvloop" else None,
        "event_loop": loop,
        "gc_enabled": gc.isenabled(),
        "gc_frozen_during_runs": True,  # objects from before each run are gc.freeze()d
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "argv0": Path(sys.argv[0]).name if sys.argv else None,
    }
    if info is None:
        meta["backend"] = None
    else:
        meta.update(
            backend=info.backend,
            server_version=info.server_version,
            max_connections=info.max_connections,
            superuser_reserved_connections=info.superuser_reserved_connections,
            reserved_connections=info.reserved_connections,
            app_role=info.app_role,
            app_role_is_superuser=info.app_role_is_superuser,
            image=info.image,
        )
    if pooler is not None:  # absent without one: files from before it read alike
        meta["pooler"] = pooler.as_metadata()
    return meta
