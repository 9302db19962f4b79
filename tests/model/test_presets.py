"""Managed-database presets: each provider's published figures, the AWS rule, and a plan's
budget taken from a preset that values the user gives override."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.presets import (
    RDS_MEMORY,
    RDS_OBSERVED,
    format_presets,
    get_preset,
    list_presets,
    rds_instance_memory,
    rds_max_connections,
)
from dbkit.store.deploy import build_plan, load_deploy

API = "api:replicas=4,workers=2,pool_size=10"


@pytest.mark.parametrize(
    ("name", "max_connections", "reserved"),
    [
        ("aws-rds:db.t2.small", 198, 3),  # observed defaults (REFERENCES)
        ("aws-rds:db.t2.medium", 413, 3),
        ("aws-rds:db.m4.large", 856, 3),
        ("aws-rds:db.r4.large", 1660, 3),
        ("aws-rds:db.r6g.4xlarge", 5000, 3),  # 128 GiB: over the cap
        ("aws-aurora:db.r6g.large", 1743, 3),  # 16 GiB, estimated
        ("azure:B1ms", 50, 15),
        ("azure:B2s", 429, 15),
        ("azure:D16", 5000, 15),
        ("azure:E4", 3437, 15),
        ("supabase:nano", 60, 3),
        ("supabase:small", 90, 3),
        ("supabase:16xl", 500, 3),
        ("supabase-pooler:small", 400, 0),
        ("supabase-pooler:16XL", 12000, 0),
        ("neon:0.25", 104, 7),
        ("neon:8", 3357, 7),
        ("neon:9", 4000, 7),
        ("neon:56", 4000, 7),
        ("neon-pooler", 10000, 0),
    ],
)
def test_published_figures(name: str, max_connections: int, reserved: int) -> None:
    preset = get_preset(name)
    assert (preset.max_connections, preset.reserved) == (max_connections, reserved)
    assert preset.source.url.startswith("https://") and preset.source.checked


def test_the_aws_rule_and_the_estimate_never_above_an_observed_default() -> None:
    assert rds_max_connections(4 * 1024**3) == 450  # nominal 4 GiB: what AWS's rule gives
    assert rds_max_connections(10**12) == 5000
    for cls, observed in RDS_OBSERVED.items():
        estimate = rds_max_connections(rds_instance_memory(RDS_MEMORY[cls]))
        assert observed - 5 <= estimate <= observed, cls
    micro = get_preset("aws-rds:db.t3.micro")
    assert micro.max_connections == 95 and "estimated" in micro.note
    assert micro.max_connections < 1024**3 // 9531392  # below the nominal 1 GiB's 112


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("aws-rds:db.x9.huge", "unknown size 'db.x9.huge' for aws-rds"),
        ("azure:B3", "unknown size 'B3' for azure (known: B1ms"),
        ("neon:0.3", "unknown size '0.3' for neon"),
        ("neon:57", "unknown size '57' for neon"),
        ("neon:9.5", "unknown size '9.5' for neon"),
        ("heroku:standard-0", "unknown provider 'heroku'"),
        ("neon-pooler:1", "unknown provider 'neon-pooler'"),
    ],
)
def test_unknown_presets_are_refused_naming_the_known(name: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(")):
        get_preset(name)


def test_the_list_names_every_source_and_its_date() -> None:
    presets = list_presets()
    names = [p.name for p in presets]
    assert "aws-rds:db.t3.micro" in names and "neon:9..56" in names
    for p in presets:
        if ".." not in p.name:
            assert get_preset(p.name) == p
    lines = format_presets(presets)
    sources = [line for line in lines if line.startswith("source: ")]
    assert len(sources) == len({p.source for p in presets}) == 5
    assert all("(checked 2026-12-01)" in line for line in sources)


def test_plan_takes_the_preset_budget_and_options_override_it() -> None:
    plan = build_plan(services=[API], preset="aws-rds:db.t3.micro")
    assert (plan.budget.max_connections, plan.budget.superuser_reserved) == (95, 3)
    assert plan.total_peak == 80 and plan.fits
    assert not build_plan(services=[API], preset="azure:B1ms").fits  # 50 - 15 = 35 < 80
    given = build_plan(services=[API], preset="azure:B1ms", max_connections=200, reserved=5)
    assert (given.budget.max_connections, given.budget.superuser_reserved) == (200, 5)
    partly = build_plan(services=[API], preset="azure:B1ms", max_connections=120)
    assert (partly.budget.max_connections, partly.budget.superuser_reserved) == (120, 15)


def test_a_deploy_file_names_a_preset_and_its_own_keys_override_it(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(
        '[database]\npreset = "neon:1"\nheadroom = 5\n'
        "[services.api]\nreplicas = 2\nworkers = 2\npool_size = 10\n"
    )
    deploy = load_deploy(path)
    assert deploy.preset == get_preset("neon:1")
    budget = build_plan(path).budget
    assert (budget.max_connections, budget.superuser_reserved, budget.headroom) == (419, 7, 5)
    assert build_plan(path, preset="neon:0.25").budget.max_connections == 104  # --preset wins
    path.write_text(path.read_text().replace("headroom = 5", "max_connections = 300"))
    assert build_plan(path).budget.max_connections == 300  # the file's own number wins


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ('"neon:0.3"', "database.preset = 'neon:0.3': unknown size '0.3' for neon"),
        ("3", "database.preset = 3: must be a string"),
    ],
)
def test_a_bad_preset_in_a_file_names_the_file_and_key(
    tmp_path: Path, value: str, needle: str
) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(
        f"[database]\npreset = {value}\n[services.api]\nreplicas = 1\nworkers = 1\npool_size = 1\n"
    )
    with pytest.raises(ConfigError) as err:
        load_deploy(path)
    assert str(err.value).startswith(f"{path}: ")
    assert needle in str(err.value)


def test_reserved_slots_name_the_preset_when_nothing_is_left() -> None:
    with pytest.raises(ConfigError, match=r"superuser_reserved 15 \(preset azure:B1ms\)"):
        build_plan(services=[API], preset="azure:B1ms", max_connections=15)
