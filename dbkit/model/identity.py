"""Which backends are the kit's: every workload connection carries its run's application_name.

A server the kit is pointed at (``--dsn``) may serve other clients of the same role, so a role
says nothing about whose a backend is. Each run gets a tag of its own (``dbkit-`` and 16 random
hex digits), set as ``application_name`` on every connection its workload opens, in every
process it runs in; the terminate fault ends, and the monitor counts as the run's, only the
backends whose application_name equals that tag. The kit's helper connections (the monitor,
the fault injector) carry names of their own, which no run's tag equals.

A fleet's services are told apart by a member tag each: the fleet's tag, a dot and the
service's index (``dbkit-0123456789abcdef.1``). A run's own backends are those whose
application_name is its tag or one of its members' (``owns``); the monitor counts each
member's apart, and a terminate fault ends them all.
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


def member_tag(tag: str, index: int) -> str:
    """The tag of member ``index`` (a fleet's service) of the run tagged ``tag``."""
    member = f"{tag}.{index}"
    assert len(member.encode()) <= MAX_APP_NAME_BYTES
    return member


def owns(tag: str, app_name: str | None) -> bool:
    """Whether a backend whose application_name is ``app_name`` is the run ``tag``'s (its own
    tag, or a member's): the rule the monitor's and the fault's SQL apply (OWNED_BY)."""
    return app_name is not None and (app_name == tag or app_name.startswith(tag + "."))


# The same rule in SQL, over pg_stat_activity, the tag as $1 (starts_with: PostgreSQL 11+).
OWNED_BY = "(application_name = $1 OR starts_with(application_name, $1 || '.'))"


def tagged(settings: Mapping[str, str], app_name: str) -> dict[str, str]:
    """Session settings with ``application_name`` set to ``app_name``, replacing any other.

    asyncpg gives these settings precedence over a DSN's own ``?application_name=``, so a
    user's DSN cannot take the tag off the run's connections.
    """
    return {**settings, "application_name": app_name}
