"""Deploy files and ``--service`` options: the fleet whose pools ``plan.py`` adds up.

```toml
[database]            # optional; options and a live server (--dsn) override these
preset = "aws-rds:db.t3.micro"   # a managed database's limits (dbkit plan --list-presets);
                      # the keys below, options and a live server override it
max_connections = 100
reserved = 3          # superuser_reserved_connections
reserved_connections = 0   # PostgreSQL 16+
headroom = 5          # kept free for admin sessions and migrations
[services.api]
replicas = 8
workers = 4
pool_size = 10
max_overflow = 5
driver = "sqlalchemy"
[pooler]              # optional: a PgBouncer between the services and the server
kind = "pgbouncer"
pool_mode = "transaction"
default_pool_size = 20
reserve_pool_size = 0
max_client_conn = 1000
max_db_connections = 0     # 0: no cap (max_user_connections likewise)
databases = 1              # PgBouncer keeps one pool per database x user
users = 1
```
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dbkit.model.dsn import given_dsn
from dbkit.model.errors import ConfigError
from dbkit.model.plan import Budget, Plan, plan_fleet
from dbkit.model.pooler import PoolerSpec
from dbkit.model.presets import Preset, get_preset
from dbkit.model.service import Service
from dbkit.store.tomlfile import no_unknown, read_toml, table

if TYPE_CHECKING:
    from dbkit.model.server_info import ServerInfo

DEPLOY_KEYS = {"database", "services", "pooler"}
DATABASE_KEYS = {"max_connections", "reserved", "reserved_connections", "headroom"}
REQUIRED_KEYS = {"replicas", "workers", "pool_size"}
INT_KEYS = REQUIRED_KEYS | {"max_overflow", "min_size"}
SERVICE_KEYS = INT_KEYS | {"driver"}
# [database] preset = "NAME" (a string, beside the numbers): a managed database's limits
PRESET = "preset"
PRESET_KEYS = {"max_connections": "max_connections", "reserved": "reserved"}  # key: Preset's
# [pooler]: PgBouncer's names; the one that differs from PoolerSpec's field is default_pool_size
POOLER_KEYS = {
    "kind": "kind",
    "pool_mode": "pool_mode",
    "default_pool_size": "pool_size",
    "reserve_pool_size": "reserve_pool_size",
    "max_client_conn": "max_client_conn",
    "max_db_connections": "max_db_connections",
    "max_user_connections": "max_user_connections",
    "max_prepared_statements": "max_prepared_statements",
    "query_wait_timeout": "query_wait_timeout",
    "databases": "databases",
    "users": "users",
}


@dataclass(frozen=True)
class Deploy:
    """A loaded deploy file: its services, whichever [database] keys it gave, its path, the
    managed database preset it names (or --preset gave), and the pooler its [pooler] table
    describes (None: the services connect to the server directly)."""

    services: tuple[Service, ...]
    database: dict[str, int] = field(default_factory=dict)
    path: Path | None = None
    preset: Preset | None = None
    pooler: PoolerSpec | None = None

    @property
    def max_connections(self) -> int:
        """The size of server the file asks for ([database] max_connections), else 100."""
        return self.database.get("max_connections", 100)

    def headroom(self, option: int | None = None) -> int:
        """Slots kept free: ``option`` when given, else [database] headroom, else 0."""
        return option if option is not None else self.database.get("headroom", 0)

    def budget(
        self,
        info: ServerInfo | None = None,
        in_use: int = 0,
        *,
        max_connections: int | None = None,
        reserved: int | None = None,
        headroom: int | None = None,
    ) -> Budget:
        """The budget: explicit options win, then the server's settings, then [database], then
        the preset (max_connections and reserved slots), then defaults (3 superuser-reserved,
        0 reserved_connections, 0 headroom).

        Raises ConfigError when nothing gives max_connections, or when the reserved slots and
        headroom leave none of it; the message names where each number came from.
        """
        top = self._pick("max_connections", max_connections, info, "max_connections", None)
        if top is None:
            raise ConfigError(
                "no max_connections: give --max-connections N, --dsn (read it from the "
                "server), --preset NAME, or [database] max_connections in the deploy file"
            )
        parts = {
            "superuser_reserved": self._pick(
                "reserved", reserved, info, "superuser_reserved_connections", 3
            ),
            "reserved_connections": self._pick(
                "reserved_connections", None, info, "reserved_connections", 0
            ),
            "headroom": self._pick("headroom", headroom, None, "", 0),
        }
        picked = {name: part for name, part in parts.items() if part is not None}
        set_aside = sum(value for value, _ in picked.values())
        if set_aside >= top[0]:
            terms = " + ".join(
                f"{name} {value} ({source})" for name, (value, source) in picked.items() if value
            )
            raise ConfigError(
                f"budget: {terms} = {set_aside} must be below max_connections {top[0]} "
                f"({top[1]}): nothing would be left for the services"
            )
        return Budget(
            max_connections=top[0],
            superuser_reserved=picked["superuser_reserved"][0],
            reserved=picked["reserved_connections"][0],
            headroom=picked["headroom"][0],
            in_use=in_use,
        )

    def _pick(
        self,
        key: str,
        option: int | None,
        info: ServerInfo | None,
        setting: str,
        default: int | None,
    ) -> tuple[int, str] | None:
        # (value, where it came from): the option, else the server, else the file, else default
        if option is not None:
            return option, f"--{key.replace('_', '-')}"
        if info is not None and setting:
            return getattr(info, setting), f"the server's {setting}"
        if key in self.database:
            where = f"{self.path}: " if self.path is not None else ""
            return self.database[key], f"{where}database.{key} = {self.database[key]}"
        if self.preset is not None and key in PRESET_KEYS:
            return getattr(self.preset, PRESET_KEYS[key]), f"preset {self.preset.name}"
        return None if default is None else (default, "default")


def load_deploy(path: str | Path) -> Deploy:
    """Read a deploy TOML file; every error names the file, the key and the value.

    Raises ConfigError for an unreadable or malformed file, unknown keys, wrong types (a bool
    is not a number), sizes out of range and a file without services.
    """
    path = Path(path)
    data = read_toml(path)
    no_unknown(data, DEPLOY_KEYS, path, "")
    database = table(data.get("database", {}), path, "database")
    no_unknown(database, DATABASE_KEYS | {PRESET}, path, "database.")
    preset = _file_preset(database.pop(PRESET, None), path)
    for key, value in database.items():
        low = 1 if key == "max_connections" else 0
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigError(
                f"{path}: database.{key} = {value!r}: must be a whole number >= {low}"
            )
    services_table = table(data.get("services", {}), path, "services")
    if not services_table:
        raise ConfigError(f"{path}: services: needs at least one [services.NAME] table")
    services = []
    for name, raw in services_table.items():
        entry = table(raw, path, f"services.{name}")
        no_unknown(entry, SERVICE_KEYS, path, f"services.{name}.")
        # A pool larger than the server is the plan's verdict (OVER, exit 1), as with the same
        # numbers given as options; and the server may not be the file's (--max-connections).
        services.append(_build(name, entry, f"{path}: ", f"services.{name}."))
    pooler = _file_pooler(data["pooler"], path) if "pooler" in data else None
    return Deploy(tuple(services), dict(database), path, preset, pooler)


def _file_pooler(value: object, path: Path) -> PoolerSpec:
    """The PoolerSpec a [pooler] table describes; each key is checked by PoolerSpec's own rules,
    one at a time, so an error names the file, the key and the value."""
    entry = table(value, path, "pooler")
    no_unknown(entry, set(POOLER_KEYS), path, "pooler.")
    fields = {POOLER_KEYS[key]: given for key, given in entry.items()}
    for key, given in entry.items():
        try:
            PoolerSpec(**{POOLER_KEYS[key]: given})
        except ConfigError as exc:
            raise ConfigError(f"{path}: pooler.{key} = {given!r}: {exc}") from None
    return PoolerSpec(**fields)


def _file_preset(value: object, path: Path) -> Preset | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{path}: database.preset = {value!r}: must be a string")
    try:
        return get_preset(value)
    except ConfigError as exc:
        raise ConfigError(f"{path}: database.{exc}".replace("--preset ", "preset = ")) from None


def parse_service(text: str) -> Service:
    """A Service from ``NAME:key=value,...``, e.g. ``api:replicas=8,workers=4,pool_size=10``.

    Keys are those of a [services.NAME] table; errors name the option and the key.
    """
    where = f"--service {text!r}: "
    name, sep, rest = text.partition(":")
    name = name.strip()
    if not sep or not name or not rest.strip():
        raise ConfigError(f"{where}expected NAME:key=value,... (e.g. api:replicas=2,...)")
    entry: dict[str, Any] = {}
    for part in rest.split(","):
        key, eq, value = (s.strip() for s in part.partition("="))
        if not eq or not key:
            raise ConfigError(f"{where}{part.strip()!r}: expected key=value")
        if key not in SERVICE_KEYS:
            allowed = ", ".join(sorted(SERVICE_KEYS))
            raise ConfigError(f"{where}unknown key {key} (allowed: {allowed})")
        if key in entry:
            raise ConfigError(f"{where}{key}: given twice")
        if key in INT_KEYS:
            try:
                entry[key] = int(value)
            except ValueError:
                raise ConfigError(f"{where}{key} = {value!r}: must be a whole number") from None
        else:
            entry[key] = value
    return _build(name, entry, where, "")


def _build(name: str, entry: dict[str, Any], source: str, prefix: str) -> Service:
    # source: where the text came from (a file, an option); prefix: the key's path in it
    where = source + prefix
    missing = sorted(REQUIRED_KEYS - set(entry))
    if missing:
        required = ", ".join(sorted(REQUIRED_KEYS))
        raise ConfigError(f"{where}{missing[0]}: missing (required: {required})")
    for key, value in entry.items():
        wrong = (
            isinstance(value, bool) or not isinstance(value, int)
            if key in INT_KEYS
            else not isinstance(value, str)
        )
        if wrong:
            kind = "a whole number" if key in INT_KEYS else "a string"
            raise ConfigError(f"{where}{key} = {value!r}: must be {kind}")
    try:
        return Service(name=name, **entry)
    except ConfigError as exc:
        raise ConfigError(f"{source}{exc}") from None  # exc names the service, key and value


def build_plan(
    deploy_file: str | Path | None = None,
    services: Sequence[str] = (),
    *,
    max_connections: int | None = None,
    reserved: int | None = None,
    headroom: int | None = None,
    dsn: str | None = None,
    scale_to: int | None = None,
    dsn_file: str | Path | None = None,
    preset: str | None = None,
) -> Plan:
    """The plan from a deploy file and/or ``--service`` strings.

    Each budget number comes from the first of: an option, the server at ``dsn`` (or the DSN
    on the first line of ``dsn_file``, never both; it also gives the connections already in
    use), the file's [database] table, the preset (``preset``, else the file's), a default.
    """
    deploy = collect_deploy(deploy_file, services)
    dsn = given_dsn(dsn, None if dsn_file is None else str(dsn_file))
    if preset is not None:  # --preset: over the file's, under every number the user gives
        deploy = replace(deploy, preset=get_preset(preset))
    for key, value in (
        ("max_connections", max_connections),
        ("reserved", reserved),
        ("headroom", headroom),
    ):
        # checked before any connection is made
        if value is not None and (value < 0 or (key == "max_connections" and value < 1)):
            raise ConfigError(f"--{key.replace('_', '-')} must not be {value}")
    info, in_use = _read_server(dsn) if dsn is not None else (None, 0)
    budget = deploy.budget(
        info, in_use, max_connections=max_connections, reserved=reserved, headroom=headroom
    )
    return plan_fleet(deploy.services, budget, scale_to=scale_to, pooler=deploy.pooler)


def collect_deploy(deploy_file: str | Path | None, services: Sequence[str] = ()) -> Deploy:
    """A deploy file's services followed by ``--service`` ones; names must be unique. The
    file's [database], preset and [pooler] come along."""
    deploy = load_deploy(deploy_file) if deploy_file is not None else Deploy((), {})
    extra = tuple(parse_service(text) for text in services)
    every = (*deploy.services, *extra)
    names = [s.name for s in every]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConfigError(f"service {duplicate!r} is given twice")
    if not names:
        raise ConfigError("no services: give a deploy file or --service NAME:replicas=...")
    return Deploy(every, deploy.database, deploy.path, deploy.preset, deploy.pooler)


def _read_server(dsn: str) -> tuple[ServerInfo, int]:
    import asyncio

    from dbkit.model.dsn import check_dsn, mask_text
    from dbkit.servers.base import read_in_use, read_info

    try:
        check_dsn(dsn)
    except ValueError as exc:
        raise ConfigError(mask_text(str(exc))) from None
    info = asyncio.run(read_info(dsn, dsn, "dsn"))
    return info, asyncio.run(read_in_use(dsn))
