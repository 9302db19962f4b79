"""Facts about this machine and its installed packages, for checks and result metadata."""

from __future__ import annotations

from importlib import metadata


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None if it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def meminfo_bytes(field: str) -> int | None:
    """A /proc/meminfo figure in bytes (``MemTotal``, ``MemAvailable``), None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None
