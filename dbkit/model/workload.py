"""What one task does against the database: the statements it runs and how long they hold."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from dbkit.model.errors import ConfigError

# Bounds that keep every run finite: a statement holds at most an hour, a task runs at most
# this many statements (tasks are bounded in spec.MAX_TASKS).
MAX_HOLD_S = 3600.0
MAX_QUERIES = 10_000


@dataclass(frozen=True)
class Workload:
    """``queries`` statements per task: ``SELECT pg_sleep(hold)``, or ``sql`` when given."""

    queries: int = 3
    hold: float = 0.1
    sql: str | None = None

    def __post_init__(self) -> None:
        if self.queries < 1:
            raise ConfigError(f"queries must be at least 1 (got {self.queries})")
        if self.queries > MAX_QUERIES:
            raise ConfigError(f"queries must be at most {MAX_QUERIES:,} (got {self.queries:,})")
        if self.hold < 0:
            raise ConfigError(f"hold must be zero or more seconds (got {self.hold})")
        if self.hold > MAX_HOLD_S:
            raise ConfigError(f"hold must be at most {MAX_HOLD_S:.0f} seconds (got {self.hold:g})")
        if self.sql is not None and not self.sql.strip():
            raise ConfigError("sql must not be empty")

    @functools.cached_property  # read per statement on the hot path: built once
    def statement(self) -> str:
        return self.sql if self.sql is not None else f"SELECT pg_sleep({self.hold!r})"

    @property
    def task_hold_s(self) -> float | None:
        """How long one task holds its connection at the least, when the workload makes it known."""
        return None if self.sql is not None else self.queries * self.hold
