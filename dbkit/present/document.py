"""Any result document as text, whichever command made it, and the lines about a server."""

from __future__ import annotations

from dbkit.model.results import Result
from dbkit.present.fleet import format_fleet
from dbkit.present.report import format_result
from dbkit.servers import Server, printable_dsn


def format_document(result: Result, title: str | None = None) -> list[str]:
    """A fleet's tables for a fleet result, else the runs' report under ``title``."""
    return format_fleet(result) if result.fleet else format_result(result, title)


def server_line(server: Server) -> str:
    """``server: embedded (asked for), PostgreSQL 18.1, max_connections 100, workload role ...``"""
    info = server.info
    return (
        f"server: {server.backend} ({server.reason}), PostgreSQL {info.server_version}"
        + (f" (image {info.image})" if info.image else "")
        + f", max_connections {info.max_connections}, workload role {info.app_role}"
    )


def format_server_up(server: Server) -> list[str]:
    """What ``dbkit server up`` prints: the server, and the DSNs to reach it."""
    info = server.info
    return [
        f"PostgreSQL {info.server_version} ({server.backend}: {server.reason}"
        + (f", image {info.image}" if info.image else "")
        + "), "
        f"max_connections {info.max_connections}, "
        f"{info.superuser_reserved_connections} superuser-reserved",
        f"superuser DSN: {printable_dsn(server, server.admin_dsn)}",
        f"app DSN:       {printable_dsn(server, server.app_dsn)}  (plain role, as in production)",
        "Ctrl-C stops it.",
    ]
