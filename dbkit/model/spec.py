"""RunSpec: everything that defines one run of one strategy, validated where it is built."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from dbkit.model.arrivals import ARRIVALS, arrival_count
from dbkit.model.errors import ConfigError
from dbkit.model.workload import Workload

SLEEP_MODES = ("unbatched", "batched")
MAX_TASKS = 10_000_000
MAX_RETRIES = 100  # with a 1 s backoff cap, a task gives up within two minutes at most
FLOAT_FIELDS = (
    "hold", "acquire_timeout", "connect_timeout", "statement_timeout", "rate", "duration",
)  # fmt: skip
MAX_DURATION_S = 24 * 3600.0  # an open-loop run's longest schedule, as a fleet's
ARRIVAL_FIELDS = ("rate", "duration", "arrivals", "seed")  # what an open-loop run records
DEFAULT_BATCHES = 5  # the background post's batching: five sequential gathers


@dataclass(frozen=True)
class Kind:
    """What the model needs of a strategy, which declares it in its own module (and registers
    it here from dbkit.strategies): how it labels a run and the rules its specs obey."""

    name: str
    needs_server: bool
    params: tuple[str, ...]  # the RunSpec fields it uses, besides those every strategy takes
    label: Callable[[RunSpec], str]
    check: Callable[[RunSpec], None]


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> None:
    _KINDS[kind.name] = kind


def strategy_names() -> tuple[str, ...]:
    """The strategies there are, in the order they were declared."""
    return tuple(_KINDS)


def _kind(name: str) -> Kind:
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(_KINDS)}") from None


@dataclass(frozen=True)
class RunSpec:
    """One run: a strategy, its workload and its knobs. Field names are the TOML keys.

    A closed burst hands ``tasks`` over at once. An open-loop run (``rate`` and ``duration``
    given together) hands them over as they arrive, ``rate`` per second for ``duration``
    seconds (``arrivals``: poisson or fixed, see dbkit.model.arrivals; ``seed`` draws the
    poisson schedule): its ``tasks`` are then derived, the number of arrivals, round(rate x
    duration), and a ``tasks`` that says otherwise is refused.
    """

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
    # asyncpg's statement_cache_size; set, statements are prepared through it (0: unnamed, none
    # kept, as a transaction-mode pooler needs); None: plain simple queries, asyncpg's default
    statement_cache: int | None = None
    rate: float | None = None
    duration: float | None = None
    arrivals: str = "poisson"
    seed: int = 0

    def __post_init__(self) -> None:
        kind = _kind(self.strategy)
        for name in FLOAT_FIELDS:
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ConfigError(f"{name} must be a finite number (got {value})")
        self._check_arrivals()
        _at_least("tasks", self.tasks, 1)
        if self.tasks > MAX_TASKS:
            raise ConfigError(f"tasks must be at most {MAX_TASKS:,} (got {self.tasks:,})")
        self.workload  # noqa: B018 -- validates queries, hold and sql
        if self.batch_size is not None:
            _at_least("batch_size", self.batch_size, 1)
        _at_least("limit", self.limit, 1)
        _at_least("pool_size", self.pool_size, 0)
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
        _at_least("procs", self.procs, 1)
        if self.statement_cache is not None:
            _at_least("statement_cache (0: off)", self.statement_cache, 0)
        if self.fault is not None:
            from dbkit.model.faults import Fault

            if not kind.needs_server:
                raise ConfigError(f"faults need a database; {self.strategy} has none")
            Fault.parse(self.fault)
        if self.statement_timeout is not None and self.statement_timeout <= 0:
            raise ConfigError(f"statement_timeout must be above 0 (got {self.statement_timeout})")
        if self.mode is not None and self.mode not in SLEEP_MODES:
            raise ConfigError(f"mode must be {' or '.join(SLEEP_MODES)} (got {self.mode!r})")
        defaults = _defaults()
        # An open-loop run's tasks are derived (and checked in _check_arrivals).
        derived = ("tasks",) if self.open_loop else ()
        check_uses(
            self.strategy,
            [k for k, v in defaults.items() if getattr(self, k) != v and k not in derived],
        )
        if self.commit and self.sql is None:  # pg_sleep has nothing to commit
            raise ConfigError("commit applies to a custom sql statement; there is none")
        kind.check(self)

    def _check_arrivals(self) -> None:
        """An open-loop run's rate and duration, bounded as a burst's tasks are; its tasks
        become the number of arrivals."""
        if self.rate is None and self.duration is None:
            if self.arrivals != "poisson" or self.seed != 0:
                given = "arrivals" if self.arrivals != "poisson" else "seed"
                raise ConfigError(f"{given} applies to an open-loop run: give rate and duration")
            return
        if self.rate is None or self.duration is None:
            missing = "duration" if self.rate is not None else "rate"
            raise ConfigError(f"an open-loop run needs rate and duration together: give {missing}")
        if isinstance(self.rate, bool) or self.rate <= 0:
            raise ConfigError(f"rate must be above 0 tasks per second (got {self.rate})")
        if isinstance(self.duration, bool) or not 0 < self.duration <= MAX_DURATION_S:
            raise ConfigError(
                f"duration must be above 0 and at most {MAX_DURATION_S:.0f} s (got {self.duration})"
            )
        if self.arrivals not in ARRIVALS:
            raise ConfigError(f"arrivals must be {' or '.join(ARRIVALS)} (got {self.arrivals!r})")
        _at_least("seed", self.seed, 0)
        count = arrival_count(self.rate, self.duration)
        if count < 1:
            raise ConfigError(
                f"rate {self.rate} for {self.duration} s is no arrival: rate x duration must be "
                "at least 1"
            )
        if count > MAX_TASKS:
            raise ConfigError(
                f"rate x duration must be at most {MAX_TASKS:,} arrivals (got {count:,})"
            )
        if self.tasks not in (_defaults()["tasks"], count):
            raise ConfigError(
                f"tasks {self.tasks} with a rate: an open-loop run's tasks are its arrivals, "
                f"rate x duration = {count}; drop tasks"
            )
        object.__setattr__(self, "tasks", count)

    @property
    def open_loop(self) -> bool:
        """Tasks arrive on a schedule (``rate``), rather than all at once."""
        return self.rate is not None

    @property
    def arrival_params(self) -> dict[str, Any]:
        """What a run records of its arrivals: nothing for a burst."""
        return {key: getattr(self, key) for key in ARRIVAL_FIELDS} if self.open_loop else {}

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
        return self.label or _kind(self.strategy).label(self)

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
        values = asdict(self)
        if self.open_loop:
            del values["tasks"]  # derived again, from the rate and duration it now has
        return RunSpec(**{**values, **changes})


# What says where the server is: meaningless for a strategy without one.
SERVER_OPTIONS = ("server", "dsn", "dsn_file", "max_connections", "allow_storm")


def optional_fields() -> tuple[str, ...]:
    """RunSpec fields that only some strategies use; every strategy takes the others."""
    kinds = _KINDS.values()
    return tuple(
        f.name
        for f in fields(RunSpec)
        if any(f.name in k.params for k in kinds) and not all(f.name in k.params for k in kinds)
    )


@functools.cache
def _defaults() -> dict[str, Any]:
    return {f.name: f.default for f in fields(RunSpec) if f.name != "strategy"}


def check_uses(strategy: str, given: Iterable[str], spell: Callable[[str], str] = str) -> None:
    """Refuse what ``strategy`` would ignore: a field it does not use, or a server option for a
    strategy without a server. Said, never dropped silently, whoever builds the run (options,
    scenario files, library callers: a RunSpec checks its own fields that differ from their
    defaults); ``spell`` names a field as the caller's user wrote it.
    """
    chosen = _kind(strategy)
    given = list(given)
    if "tasks" in given and "rate" in given:
        raise ConfigError(
            f"{spell('tasks')} does not go with {spell('rate')}: an open-loop run's tasks are "
            f"its arrivals, {spell('rate')} x {spell('duration')}"
        )
    if not chosen.needs_server:
        extra = [spell(key) for key in given if key in SERVER_OPTIONS]
        if extra:
            raise ConfigError(f"{strategy} has no server: it does not use {', '.join(extra)}")
    optional = optional_fields()
    unused = [spell(key) for key in given if key in optional and key not in chosen.params]
    if unused:
        takes = ", ".join(spell(f) for f in optional if f in chosen.params)
        raise ConfigError(f"{strategy} does not use {', '.join(unused)}; it takes {takes}")


def spec_keys() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RunSpec))


def _at_least(key: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be a whole number (got {value!r})")
    if value < low:
        raise ConfigError(f"{key} must be at least {low} (got {value})")
