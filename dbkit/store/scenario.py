"""Scenario files: ``scenarios/*.toml``, one experiment each, loaded into frozen dataclasses.

```toml
description = "what it shows"
[server]
max_connections = 100
[defaults]            # any run key, applied to every run
tasks = 1000
[[runs]]
strategy = "pool"
pool_size = 90
[pooler]              # optional: a PgBouncer dbkit starts in front of the server
pool_mode = "transaction"
pool_size = 20
[[runs]]
strategy = "unbatched"
pooler = true         # this run goes through it; the others go straight to the server
```
"""

from __future__ import annotations

import math
import stat
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from dbkit.engine.guards import check_runs
from dbkit.engine.run import expand
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec
from dbkit.model.spec import MAX_TASKS, RunSpec, check_uses, optional_fields
from dbkit.store.tomlfile import kind, no_unknown, read_toml, table
from dbkit.strategies import STRATEGIES

SCENARIO_DIRS = (Path("scenarios"), Path(__file__).resolve().parents[2] / "scenarios")
SCENARIO_KEYS = {"description", "server", "defaults", "runs", "pooler"}
POOLER_FLAG = "pooler"  # a run's key: true sends it through the [pooler] table's pooler
SERVER_KEYS = {"max_connections"}


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    description: str
    max_connections: int
    runs: tuple[RunSpec, ...]
    pooler: PoolerSpec | None = None  # the [pooler] table
    pooled: tuple[bool, ...] = ()  # per run: through the pooler (``pooler = true``)

    def runs_with(self, fault: str | None = None) -> tuple[RunSpec, ...]:
        """The runs, each with ``fault`` when one is given (it replaces the file's)."""
        return tuple(run.replace(fault=fault) for run in self.runs) if fault else self.runs


def find_scenario(name: str) -> Path:
    """A path to a file, or a name looked up in ./scenarios and the kit's own scenarios/.

    A bare name (no ``.toml``, no ``/``) is looked up first, then taken as a file of any
    extension; a name with either is only ever a path.
    """
    if not name.strip():
        raise ConfigError("no scenario given: a name (see scenarios/) or a path to a .toml file")
    direct = Path(name)
    is_path = direct.suffix == ".toml" or "/" in name
    if not is_path:
        for folder in SCENARIO_DIRS:
            candidate = folder / f"{name}.toml"
            if _file_kind(candidate) == "file":
                return candidate
    found = _file_kind(direct)
    if found == "file":
        return direct
    if found == "directory":
        raise ConfigError(f"{name}: is a directory, not a scenario file")
    if found == "other":
        raise ConfigError(f"{name}: not a regular file, so not a scenario file")
    if is_path:
        raise ConfigError(f"no scenario file {name}")
    known = sorted({p.stem for folder in SCENARIO_DIRS for p in folder.glob("*.toml")})
    raise ConfigError(f"no scenario {name!r}; known: {', '.join(known) or 'none'}")


def _file_kind(path: Path) -> str | None:
    """file, directory, other, or None when there is nothing readable by that name."""
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):  # ENAMETOOLONG and EACCES too, which is_file() would raise
        return None
    if stat.S_ISREG(mode):
        return "file"
    return "directory" if stat.S_ISDIR(mode) else "other"


def load_scenario(name_or_path: str, max_connections: int | None = None) -> Scenario:
    """A scenario file, checked against ``max_connections`` when given (it overrides the file's
    [server] max_connections, as --max-connections does)."""
    path = find_scenario(name_or_path)
    data = read_toml(path)
    return parse_scenario(data, path, max_connections)


def parse_scenario(
    data: dict[str, Any], path: Path, max_connections_override: int | None = None
) -> Scenario:
    """Validate a scenario document; every error names the file and the key."""
    no_unknown(data, SCENARIO_KEYS, path, "")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{path}: description: must be a string (got {description!r})")
    server = table(data.get("server", {}), path, "server")
    no_unknown(server, SERVER_KEYS, path, "server.")
    max_connections = server.get("max_connections", 100)
    if isinstance(max_connections, bool) or not isinstance(max_connections, int):
        raise ConfigError(f"{path}: server.max_connections: must be a whole number")
    if max_connections < 1:
        raise ConfigError(f"{path}: server.max_connections: must be at least 1")
    limit_name = "server.max_connections"
    if max_connections_override is not None:
        max_connections, limit_name = max_connections_override, "--max-connections"
    keys = set(_spec_types())
    defaults = table(data.get("defaults", {}), path, "defaults")
    no_unknown(defaults, keys - {"strategy"}, path, "defaults.")
    check_values(defaults, path, "defaults")
    raw_runs = data.get("runs", [])
    if not isinstance(raw_runs, list):
        raise ConfigError(
            f"{path}: runs must be an array of tables ([[runs]]), got {kind(raw_runs)}"
        )
    if not raw_runs:
        raise ConfigError(f"{path}: runs: needs at least one [[runs]] table")
    pooler = _pooler(data, path)
    runs = []
    pooled = []
    used: set[str] = set()
    for i, raw in enumerate(raw_runs):
        where = f"runs[{i}]"
        own = dict(table(raw, path, where))
        no_unknown(own, keys | {POOLER_FLAG}, path, where + ".")
        through = own.pop(POOLER_FLAG, False)
        if not isinstance(through, bool):
            raise ConfigError(f"{path}: {where}.{POOLER_FLAG}: must be true or false")
        if through and pooler is None:
            raise ConfigError(f"{path}: {where}.{POOLER_FLAG}: there is no [pooler] table")
        pooled.append(through)
        if "strategy" not in own:
            raise ConfigError(f"{path}: {where}.strategy: missing")
        if not isinstance(own["strategy"], str):
            raise ConfigError(f"{path}: {where}.strategy: must be a string")
        # A default applies to the runs whose strategy uses it; a run's own key must be used.
        known = own["strategy"] in STRATEGIES  # an unknown one is refused, naming the file, below
        params = STRATEGIES[own["strategy"]].params if known else ()
        applied = {k: v for k, v in defaults.items() if k not in optional_fields() or k in params}
        if "rate" in own or "rate" in defaults:  # an open-loop run's tasks are its arrivals
            applied.pop("tasks", None)
        used |= set(applied)
        spec = build_spec({**applied, **own}, path, where, given=own)
        if not through:  # through the pooler, the server's limit is the pooler's to keep
            _fits_server(spec, max_connections, limit_name, path, where)
        runs.append(spec)
    unused = [key for key in defaults if key not in used]
    if unused:
        raise ConfigError(f"{path}: defaults.{unused[0]}: no run's strategy uses it")
    try:
        check_runs(expand(runs))  # the guards every entry point passes, before any server
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if pooler is not None and not any(pooled):
        raise ConfigError(f"{path}: pooler: no run says {POOLER_FLAG} = true")
    return Scenario(
        path.stem, path, description, max_connections, tuple(runs), pooler, tuple(pooled)
    )


def _pooler(data: dict[str, Any], path: Path) -> PoolerSpec | None:
    """The [pooler] table as a PoolerSpec (PgBouncer's names: pool_mode, pool_size...)."""
    if "pooler" not in data:
        return None
    raw = table(data["pooler"], path, "pooler")
    no_unknown(raw, {f.name for f in fields(PoolerSpec)}, path, "pooler.")
    try:
        return PoolerSpec(**raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: pooler: {exc}") from None


def _fits_server(
    spec: RunSpec, max_connections: int, limit_name: str, path: Path, where: str
) -> None:
    """A pool (or semaphore) that could not fit even an empty server is a mistake in the file."""
    strategy = STRATEGIES[spec.strategy]
    if not strategy.bounded(spec):
        return
    # However many tasks it has: an open-loop run's are fixed by its rate.
    size = strategy.peak_connections(spec if spec.open_loop else spec.replace(tasks=MAX_TASKS))
    if size is not None and size > max_connections:
        key = strategy.sweeps  # its main knob
        if spec.max_overflow and "max_overflow" in strategy.params:
            key += " + max_overflow"
        raise ConfigError(
            f"{path}: {where}.{key} = {size}: larger than {limit_name} {max_connections}"
        )


def build_spec(
    entry: dict[str, Any],
    path: Path | str,
    where: str,
    *,
    given: Iterable[str] | None = None,
    spell: Callable[[str], str] = str,
) -> RunSpec:
    """A RunSpec from plain values, type-checked; errors name ``path`` and ``where.key``.

    ``given`` (default: every key of ``entry``) is what the user set; a field among them that
    the strategy ignores is refused (model.spec.check_uses), ``spell`` naming it.
    """
    check_values(entry, path, where)
    try:
        check_uses(entry["strategy"], entry if given is None else given, spell)
        return RunSpec(**entry)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {where}: {exc}") from None


def check_values(entry: dict[str, Any], path: Path | str, where: str) -> None:
    """Each value has its RunSpec field's type, and each number is finite.

    TOML has nan and inf; RunSpec's range checks let nan through (every comparison with it is
    false), and a nan hold would end up in the result as JSON that is not JSON.
    """
    types_ = _spec_types()
    for key, value in entry.items():
        if not _fits(value, types_[key]):
            raise ConfigError(
                f"{path}: {where}.{key}: wrong type {type(value).__name__} ({value!r})"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{path}: {where}.{key} = {value!r}: must be a finite number")


def _spec_types() -> dict[str, Any]:
    hints = typing.get_type_hints(RunSpec)
    return {f.name: hints[f.name] for f in fields(RunSpec)}


def _fits(value: Any, hint: Any) -> bool:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return True
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return True
        if option is float and isinstance(value, int | float) and not isinstance(value, bool):
            return True
        if option is str and isinstance(value, str):
            return True
        if option is bool and isinstance(value, bool):
            return True
    return False
