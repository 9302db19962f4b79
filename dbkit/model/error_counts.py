"""Failed attempts, counted by class: what an exception is (its type's name, with an OS
error's errno symbol, and its SQLSTATE) and the running count of each (type, SQLSTATE) class.

Client-side limits (too many open files, refused or reset sockets) are classified by errno,
never by message text, the same way server errors are by SQLSTATE.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

from dbkit.model.records import error_label


def sqlstate_of(exc: BaseException) -> str | None:
    """The SQLSTATE an exception carries: asyncpg's ``.sqlstate``, or SQLAlchemy's ``.orig``'s."""
    state = getattr(exc, "sqlstate", None)
    if state is None:
        state = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return str(state) if state is not None else None


_TYPE_NAMES: dict[type, str] = {}


def type_name(kind: type) -> str:
    """``asyncpg.exceptions.TooManyConnectionsError``; builtins by their bare name."""
    name = _TYPE_NAMES.get(kind)
    if name is None:
        module = kind.__module__
        name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
        _TYPE_NAMES[kind] = name
    return name


def error_type(exc: BaseException) -> str:
    """The class name, with the errno's symbol for OS errors: ``OSError[EMFILE]``.

    Client-side limits (too many open files, refused or reset sockets) are classified by errno,
    never by message text, the same way server errors are by SQLSTATE.
    """
    name = type_name(type(exc))
    code = getattr(exc, "errno", None) if isinstance(exc, OSError) else None
    if code is None:
        return name
    return f"{name}[{errno.errorcode.get(code, code)}]"


@dataclass
class ErrorTally:
    """Running count of one (type, SQLSTATE) error class: ``count`` failed attempts (each a
    connection or statement the server refused, as its log counts them), of which ``tasks``
    were the task's last (a retried attempt counts in ``count`` only); ``first_at`` and
    ``last_at`` are perf_counter() values; ``ticks`` counts the attempts per timeline tick."""

    count: int
    first_at: float
    last_at: float
    example: str
    tasks: int
    ticks: dict[int, int] = field(default_factory=dict)

    def add(self, other: ErrorTally) -> None:
        if other.first_at < self.first_at:
            self.first_at, self.example = other.first_at, other.example
        self.last_at = max(self.last_at, other.last_at)
        self.count += other.count
        self.tasks += other.tasks
        for tick, n in other.ticks.items():
            self.ticks[tick] = self.ticks.get(tick, 0) + n


ErrorKey = tuple[str, str | None]
ErrorTallies = dict[ErrorKey, ErrorTally]


def counts_by_label(errors: ErrorTallies) -> dict[str, int]:
    """Failed attempts by SQLSTATE (or by type, for errors without one)."""
    counts: dict[str, int] = {}
    for (kind, state), tally in errors.items():
        key = error_label(kind, state)
        counts[key] = counts.get(key, 0) + tally.count
    return counts
