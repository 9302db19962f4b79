"""Managed databases' connection limits, from each provider's published rule. No I/O.

A preset gives ``max_connections`` and the slots set aside (``reserved``, counted like
superuser_reserved_connections in a plan's budget); values the user gives override it. Each
family names its source and the date the kit's figures were checked against it
(docs/managed-databases.md says more).

AWS RDS / Aurora PostgreSQL: ``LEAST(DBInstanceClassMemory / 9531392, 5000)``. AWS does not
publish DBInstanceClassMemory; it is the class's memory less what the operating system and
RDS keep, so below the nominal GiB. Where a default was observed (REFERENCES: t2.small 198,
t2.medium 413, t2.large and m4.large 856, r4.large 1660) the preset is that value. For other
classes DBInstanceClassMemory is estimated as nominal memory less 155 MiB + 95 MiB x
log2(GiB): a reserve fitted to those observations and at least as large as each of them, so
the estimate is never above an observed default (197, 412, 852, 1659 against 198, 413, 856,
1660): a plan errs on the side of OVER. ``list_presets`` marks such values as estimated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dbkit.model.errors import ConfigError

RDS_DIVISOR = 9531392
RDS_CAP = 5000
CHECKED = "2026-12-01"


@dataclass(frozen=True)
class Source:
    """Where a family's figures come from, and when they were checked."""

    url: str
    checked: str
    rule: str


@dataclass(frozen=True)
class Preset:
    """One managed database size: its connection limit and the slots set aside."""

    name: str
    max_connections: int
    reserved: int
    source: Source
    note: str = ""

    @property
    def available(self) -> int:
        return self.max_connections - self.reserved


AWS = Source(
    "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Limits.html"
    "#RDS_Limits.MaxConnections",
    CHECKED,
    "LEAST(DBInstanceClassMemory/9531392, 5000); 3 superuser_reserved_connections (PostgreSQL's"
    " default); AWS keeps further slots for its own automation: add --headroom",
)
AWS_OBSERVED = Source(
    "https://gist.github.com/guizmaii/1cacffef793c2ba9645083c3e18b3d8c",
    CHECKED,
    "the default max_connections observed on the instance (SHOW max_connections)",
)
AZURE = Source(
    "https://learn.microsoft.com/en-us/azure/postgresql/flexible-server/concepts-limits",
    CHECKED,
    "the default max_connections per SKU; 15 reserved for replication and monitoring",
)
SUPABASE = Source(
    "https://supabase.com/docs/guides/platform/compute-and-disk",
    CHECKED,
    "direct connections (max_connections) and pooler clients per compute size; 3 superuser"
    " slots (PostgreSQL's default); Supabase's own services hold some too: add --headroom",
)
NEON = Source(
    "https://neon.com/docs/connect/connection-pooling",
    CHECKED,
    "max_connections per compute size (CU), 7 reserved for the Neon superuser; the pooler"
    " (PgBouncer) takes 10,000 clients",
)

# class -> nominal memory in GiB (the AWS instance-class tables)
RDS_MEMORY: dict[str, float] = {
    **{f"db.{f}.micro": 1 for f in ("t3", "t4g")},
    **{f"db.{f}.small": 2 for f in ("t2", "t3", "t4g")},
    **{f"db.{f}.medium": 4 for f in ("t2", "t3", "t4g")},
    **{f"db.{f}.large": 8 for f in ("t2", "t3", "t4g", "m4", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{f}.xlarge": 16 for f in ("t3", "t4g", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{f}.2xlarge": 32 for f in ("t3", "t4g", "m5", "m6g", "m6i", "m7g")},
    **{f"db.{f}.4xlarge": 64 for f in ("m5", "m6g", "m6i", "m7g")},
    "db.r4.large": 15.25,
    **{f"db.{f}.large": 16 for f in ("r5", "r6g", "r6i", "r7g")},
    **{f"db.{f}.xlarge": 32 for f in ("r5", "r6g", "r6i", "r7g")},
    **{f"db.{f}.2xlarge": 64 for f in ("r5", "r6g", "r6i", "r7g")},
    **{f"db.{f}.4xlarge": 128 for f in ("r5", "r6g", "r6i", "r7g")},
}
RDS_OBSERVED = {
    "db.t2.small": 198,
    "db.t2.medium": 413,
    "db.t2.large": 856,
    "db.m4.large": 856,
    "db.r4.large": 1660,
}
AZURE_SKUS = {
    "B1ms": 50,
    "B2s": 429,
    "B2ms": 859,
    "B4ms": 1718,
    "B8ms": 3437,
    "B12ms": 5000,
    "B16ms": 5000,
    "B20ms": 5000,
    "D2": 859,
    "D4": 1718,
    "D8": 3437,
    **{f"D{n}": 5000 for n in (16, 32, 48, 64, 96)},
    "E2": 1718,
    "E4": 3437,
}
SUPABASE_SIZES = {  # size: (direct, pooler clients)
    "nano": (60, 200),
    "micro": (60, 200),
    "small": (90, 400),
    "medium": (120, 600),
    "large": (160, 800),
    "xl": (240, 1000),
    "2xl": (380, 1500),
    "4xl": (480, 3000),
    "8xl": (490, 6000),
    "12xl": (500, 9000),
    "16xl": (500, 12000),
}
NEON_CU = {
    "0.25": 104,
    "0.5": 209,
    "1": 419,
    "2": 839,
    "3": 1258,
    "4": 1678,
    "5": 2098,
    "6": 2517,
    "7": 2937,
    "8": 3357,
}
NEON_CAP = 4000  # 9 CU and above
NEON_MAX_CU = 56
NEON_POOLER_CLIENTS = 10_000


def rds_instance_memory(gib: float) -> int:
    """The estimated DBInstanceClassMemory (bytes) of a class with ``gib`` nominal GiB."""
    reserve_mib = 155 + 95 * math.log2(gib)
    return int((gib * 1024 - reserve_mib) * 1024 * 1024)


def rds_max_connections(instance_memory: int) -> int:
    """AWS's rule: LEAST(DBInstanceClassMemory / 9531392, 5000)."""
    return min(instance_memory // RDS_DIVISOR, RDS_CAP)


def _rds(name: str, cls: str) -> Preset:
    if cls in RDS_OBSERVED:
        return Preset(name, RDS_OBSERVED[cls], 3, AWS_OBSERVED, "observed default")
    gib = RDS_MEMORY[cls]
    limit = rds_max_connections(rds_instance_memory(gib))
    return Preset(name, limit, 3, AWS, f"estimated from {gib:g} GiB")


def _neon(name: str, cu: str) -> Preset:
    if cu in NEON_CU:
        return Preset(name, NEON_CU[cu], 7, NEON)
    try:
        units = float(cu)
    except ValueError:
        units = 0.0
    if not (9 <= units <= NEON_MAX_CU and units == int(units)):
        raise KeyError(cu)
    return Preset(name, NEON_CAP, 7, NEON, "9 CU and above: capped")


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (``aws-rds:db.t3.micro``, ``azure:B2s``, ``supabase:small``,
    ``supabase-pooler:small``, ``neon:0.25``, ``neon-pooler``); ConfigError naming the known
    ones otherwise."""
    family, _, size = name.strip().partition(":")
    try:
        if family in ("aws-rds", "aws-aurora"):
            return _rds(name, size)
        if family == "azure":
            return Preset(name, AZURE_SKUS[size], 15, AZURE)
        if family == "supabase":
            return Preset(name, SUPABASE_SIZES[size.lower()][0], 3, SUPABASE, "direct")
        if family == "supabase-pooler":
            pooler = SUPABASE_SIZES[size.lower()][1]
            return Preset(name, pooler, 0, SUPABASE, "pooler clients")
        if family == "neon":
            return _neon(name, size)
        if family == "neon-pooler" and not size:
            return Preset(name, NEON_POOLER_CLIENTS, 0, NEON, "pooler clients")
    except KeyError:
        sizes = _sizes(family)
        raise ConfigError(
            f"--preset {name!r}: unknown size {size!r} for {family} (known: {sizes})"
        ) from None
    raise ConfigError(
        f"--preset {name!r}: unknown provider {family!r} (known: aws-rds:CLASS, "
        "aws-aurora:CLASS, azure:SKU, supabase:SIZE, supabase-pooler:SIZE, neon:CU, "
        "neon-pooler; dbkit plan --list-presets prints them)"
    )


def _sizes(family: str) -> str:
    keys: list[str] = {
        "aws-rds": list(RDS_MEMORY),
        "aws-aurora": list(RDS_MEMORY),
        "azure": list(AZURE_SKUS),
        "supabase": list(SUPABASE_SIZES),
        "supabase-pooler": list(SUPABASE_SIZES),
        "neon": [*NEON_CU, f"9..{NEON_MAX_CU}"],
    }.get(family, [])
    if len(keys) > 12:  # the AWS classes: the list command prints them all
        return f"{', '.join(keys[:6])}, ...; dbkit plan --list-presets prints all"
    return ", ".join(keys) or "none"


def list_presets() -> list[Preset]:
    """Every preset, family by family (Neon's 9-56 CU as one line: they are all capped)."""
    out = [_rds(f"aws-rds:{cls}", cls) for cls in RDS_MEMORY]
    out += [Preset(f"azure:{sku}", n, 15, AZURE) for sku, n in AZURE_SKUS.items()]
    for size, (direct, pooler) in SUPABASE_SIZES.items():
        out.append(Preset(f"supabase:{size}", direct, 3, SUPABASE, "direct"))
        out.append(Preset(f"supabase-pooler:{size}", pooler, 0, SUPABASE, "pooler clients"))
    out += [Preset(f"neon:{cu}", n, 7, NEON) for cu, n in NEON_CU.items()]
    out.append(Preset(f"neon:9..{NEON_MAX_CU}", NEON_CAP, 7, NEON, "capped"))
    out.append(Preset("neon-pooler", NEON_POOLER_CLIENTS, 0, NEON, "pooler clients"))
    return out


def format_presets(presets: list[Preset]) -> list[str]:
    """A table of presets, then each source with its rule and the date it was checked."""
    width = max(len(p.name) for p in presets)
    lines = [f"{'preset'.ljust(width)}  max_conn  reserved  note"]
    sources: list[Source] = []
    for p in presets:
        lines.append(f"{p.name.ljust(width)}  {p.max_connections:>8}  {p.reserved:>8}  {p.note}")
        if p.source not in sources:
            sources.append(p.source)
    lines.append("")
    for source in sources:
        lines.append(f"source: {source.url} (checked {source.checked}): {source.rule}")
    return lines
