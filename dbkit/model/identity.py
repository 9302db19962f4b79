"""Which backends are the kit's: every workload connection carries its run's application_name.

A server the kit is pointed at (``--dsn``) may serve other clients of the same role, so a role
says nothing about whose a backend is. Each run gets a tag of its own (``dbkit-`` and 16 random
hex digits), set as ``application_name`` on every connection its workload opens, in every
process it runs in; the terminate fault ends, and the monitor counts as the run's, only the
backends whose application_name equals that tag. The kit's helper connections (the monitor,
the fault injector) carry names of their own, which no run's tag equals.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

TAG_PREFIX = "dbkit-"
MAX_APP_NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL truncates a longer application_name
MONITOR_APP_NAME = "dbkit monitor"
FAULT_APP_NAME = "dbkit fault"


def new_tag() -> str:
    """A fresh run tag: ``dbkit-`` and 16 random hex digits (22 bytes, unique per run)."""
    tag = f"{TAG_PREFIX}{secrets.token_hex(8)}"
    assert len(tag.encode()) <= MAX_APP_NAME_BYTES  # a truncated tag would never match
    return tag


def tagged(settings: Mapping[str, str], app_name: str) -> dict[str, str]:
    """Session settings with ``application_name`` set to ``app_name``, replacing any other.

    asyncpg gives these settings precedence over a DSN's own ``?application_name=``, so a
    user's DSN cannot take the tag off the run's connections.
    """
    return {**settings, "application_name": app_name}
