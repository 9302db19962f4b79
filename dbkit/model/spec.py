"""RunSpec: everything that defines one run of one strategy, validated where it is built."""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from dbkit.model.errors import ConfigError
from dbkit.model.workload import Workload

STRATEGY_NAMES = ("sleep", "unbatched", "batched", "semaphore", "pool", "sqlalchemy")
SLEEP_MODES = ("unbatched", "batched")
MAX_TASKS = 10_000_000
MAX_RETRIES = 100  # with a 1 s backoff cap, a task gives up within two minutes at most
FLOAT_FIELDS = ("hold", "acquire_timeout", "connect_timeout", "statement_timeout")
DEFAULT_BATCHES = 5  # the background post's batching: five sequential gathers


@dataclass(frozen=True)
class RunSpec:
    """One run: a strategy, its workload and its knobs. Field names are the TOML keys."""

    strategy: str
    tasks: int = 1000
    queries: int = 3
    hold: float = 0.1
    sql: str | None = None
    batch_size: int | None = None
    limit: int = 50
    pool_size: int = 10
    min_size: int | None = None
    max_overflow: int = 0
    acquire_timeout: float | None = None
    connect_timeout: float = 60.0
    mode: str | None = None
    label: str | None = None
    retries: int = 0
    fault: str | None = None
    statement_timeout: float | None = None
    commit: bool = False
    procs: int = 1

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGY_NAMES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGY_NAMES)}"
            )
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number (got {value})")
        _at_least("tasks", self.tasks, 1)
        if self.tasks > MAX_TASKS:
            raise ConfigError(f"tasks must be at most {MAX_TASKS:,} (got {self.tasks:,})")
        self.workload  # noqa: B018 -- validates queries, hold and sql
        if self.batch_size is not None:
            _at_least("batch_size", self.batch_size, 1)
        _at_least("limit", self.limit, 1)
        _at_least("pool_size", self.pool_size, 0 if self.strategy == "sqlalchemy" else 1)
        if self.min_size is not None and not 0 <= self.min_size <= self.pool_size:
            raise ConfigError(
                f"min_size must be within 0..pool_size ({self.pool_size}) (got {self.min_size})"
            )
        _at_least("max_overflow", self.max_overflow, 0)
        if self.acquire_timeout is not None and self.acquire_timeout <= 0:
            raise ConfigError(f"acquire_timeout must be above 0 (got {self.acquire_timeout})")
        if self.connect_timeout <= 0:
            raise ConfigError(f"connect_timeout must be above 0 (got {self.connect_timeout})")
        _at_least("retries", self.retries, 0)
        if self.retries > MAX_RETRIES:
            raise ConfigError(f"retries must be at most {MAX_RETRIES} (got {self.retries})")
        if self.strategy == "sqlalchemy" and self.pool_size == 0 and self.max_overflow:
            raise ConfigError("pool_size 0 is NullPool, which has no overflow: drop max_overflow")
        _at_least("procs", self.procs, 1)
        if self.fault is not None:
            from dbkit.model.faults import Fault

            if self.strategy == "sleep":
                raise ConfigError("faults need a database; sleep has none")
            Fault.parse(self.fault)
        if self.statement_timeout is not None and self.statement_timeout <= 0:
            raise ConfigError(f"statement_timeout must be above 0 (got {self.statement_timeout})")
        if self.mode is not None and (self.strategy != "sleep" or self.mode not in SLEEP_MODES):
            raise ConfigError(f"mode {self.mode!r} applies to sleep only: unbatched or batched")
        if self.commit and self.sql is None:  # pg_sleep has nothing to commit
            raise ConfigError("commit applies to a custom sql statement; there is none")

    @functools.cached_property
    def workload(self) -> Workload:
        # Cached: every task reads the statement, and building (and validating) a Workload per
        # task was work on the measuring hot path.
        return Workload(self.queries, self.hold, self.sql)

    @property
    def effective_batch_size(self) -> int:
        """``batch_size``, or the post's default: the tasks split into five batches."""
        return self.batch_size or max(1, math.ceil(self.tasks / DEFAULT_BATCHES))

    @property
    def name(self) -> str:
        """A short label for tables: the given label, or the strategy and its main knob."""
        if self.label:
            return self.label
        if self.strategy == "sleep":
            return f"sleep-{self.mode}" if self.mode else "sleep"
        if self.strategy == "pool":
            return f"pool-{self.pool_size}"
        if self.strategy == "sqlalchemy":
            if self.pool_size == 0:
                return "sqlalchemy-nullpool"
            return f"sqlalchemy-{self.pool_size}+{self.max_overflow}"
        if self.strategy == "semaphore":
            return f"semaphore-{self.limit}"
        if self.strategy == "batched":
            return f"batched-{self.effective_batch_size}"
        return self.strategy

    @functools.cached_property  # read per connect on the hot path: built once (asyncpg copies it)
    def server_settings(self) -> dict[str, str]:
        """Session settings every workload connection gets."""
        if self.statement_timeout is None:
            return {}
        return {"statement_timeout": f"{max(1, round(self.statement_timeout * 1000))}ms"}

    @functools.cached_property  # read per task on the hot path
    def rolls_back(self) -> bool:
        """Custom SQL runs in a transaction that is rolled back unless ``commit`` is set."""
        return self.sql is not None and not self.commit

    def replace(self, **changes: Any) -> RunSpec:
        return RunSpec(**{**asdict(self), **changes})


def spec_keys() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RunSpec))


def _at_least(key: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number (got {value!r})")
    if value < low:
        raise ConfigError(f"{key} must be at least {low} (got {value})")
