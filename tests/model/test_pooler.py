"""PoolerSpec's checks, the settings it writes, PgBouncer versions, and the upstream a DSN
names (no PgBouncer needed)."""

from __future__ import annotations

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.pooler import (
    PoolerInfo,
    PoolerSpec,
    PoolSample,
    parse_version,
    supports_prepared_statements,
)
from dbkit.servers.base import APP_PASSWORD
from dbkit.servers.pgbouncer import Upstream


def test_defaults_are_pgbouncers_in_transaction_mode() -> None:
    assert PoolerSpec().settings() == {
        "pool_mode": "transaction",
        "default_pool_size": "20",
        "max_client_conn": "100",
        "max_db_connections": "0",
        "max_user_connections": "0",
        "reserve_pool_size": "0",
        "max_prepared_statements": "0",
        "query_wait_timeout": "120",
    }
    assert PoolerSpec(query_wait_timeout=0.5).settings()["query_wait_timeout"] == "0.5"


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"kind": "pgpool"}, "unknown pooler 'pgpool'"),
        ({"pool_mode": "statement"}, "unknown pool mode 'statement'"),
        ({"pool_size": 0}, "default_pool_size) must be at least 1"),
        ({"pool_size": 2.5}, "must be a whole number"),
        ({"pool_size": True}, "must be a whole number"),
        ({"max_client_conn": 0}, "max_client_conn must be at least 1"),
        ({"max_db_connections": -1}, "max_db_connections (0: no cap) must be at least 0"),
        ({"reserve_pool_size": -1}, "reserve_pool_size must be at least 0"),
        ({"max_prepared_statements": -5}, "max_prepared_statements (0: off) must be at least 0"),
        ({"query_wait_timeout": -1}, "query_wait_timeout must be at least 0"),
        ({"query_wait_timeout": float("nan")}, "query_wait_timeout must be a number"),
        ({"query_wait_timeout": "10"}, "query_wait_timeout must be a number"),
        ({"max_user_connections": -1}, "max_user_connections (0: no cap) must be at least 0"),
        ({"databases": 0}, "databases must be at least 1"),
        ({"users": 1.5}, "users must be a whole number"),
    ],
)
def test_bad_specs_are_refused_in_one_line(changes: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError) as caught:
        PoolerSpec(**changes)  # type: ignore[arg-type]
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_server_connections_are_pools_times_pool_and_reserve_under_the_caps() -> None:
    assert PoolerSpec().server_connections == 20  # one pool of PgBouncer's default 20
    spec = PoolerSpec(pool_size=20, reserve_pool_size=5, databases=4, users=2)
    assert (spec.pools, spec.server_connections) == (8, 200)
    # max_db_connections caps each database's pools together: 4 x 30 = 120 < 200
    assert PoolerSpec(pool_size=20, reserve_pool_size=5, databases=4, users=2,
                      max_db_connections=30).server_connections == 120  # fmt: skip
    # a cap above what the pools reach changes nothing: 4 x 60 = 240 > 200
    assert PoolerSpec(pool_size=20, reserve_pool_size=5, databases=4, users=2,
                      max_db_connections=60).server_connections == 200  # fmt: skip
    # max_user_connections caps each user's: 2 x 45 = 90, below the databases' 120
    both = PoolerSpec(pool_size=20, reserve_pool_size=5, databases=4, users=2,
                      max_db_connections=30, max_user_connections=45)  # fmt: skip
    assert both.server_connections == 90
    assert both.settings()["max_user_connections"] == "45"


def test_versions() -> None:
    assert parse_version("1.18.0") == (1, 18, 0)
    assert parse_version("1.21.0/bouncer") == (1, 21, 0)
    assert parse_version("1.24") == (1, 24)
    assert not supports_prepared_statements("1.18.0")
    assert not supports_prepared_statements("1.20.1")
    assert supports_prepared_statements("1.21.0")
    assert supports_prepared_statements("2.0")
    with pytest.raises(ValueError):
        parse_version("bouncer")


def test_info_metadata_and_sample_totals() -> None:
    info = PoolerInfo("pgbouncer", "1.18.0", {"pool_mode": "transaction"})
    assert info.as_metadata() == {
        "kind": "pgbouncer",
        "version": "1.18.0",
        "settings": {"pool_mode": "transaction"},
    }
    sample = PoolSample(0.0, 40, 10, 3, 1, 1, 0, 0, maxwait_s=0.2)
    assert sample.server_connections == 5


def test_upstream_from_the_servers_app_dsn() -> None:
    up = Upstream.from_dsn("postgresql://dbkit_app:s%40cret@127.0.0.1:5499/app?sslmode=disable")
    assert up == Upstream("127.0.0.1", 5499, "dbkit_app", "s@cret", "app")
    trusted = Upstream.from_dsn("postgresql://dbkit_app@127.0.0.1/postgres")
    assert trusted.port == 5432 and trusted.password == APP_PASSWORD
    with pytest.raises(ConfigError, match="unusual database"):
        Upstream.from_dsn("postgresql://u@h/my%20db")
    with pytest.raises(ConfigError, match="postgresql:// URL with a user"):
        Upstream.from_dsn("host=127.0.0.1 user=u")


def test_max_client_conn_left_to_the_kit_is_sized_to_the_clients() -> None:
    assert PoolerSpec().settings()["max_client_conn"] == "100"
    assert PoolerSpec().sized_for(501).max_client_conn == 501
    assert PoolerSpec().sized_for(20).max_client_conn == 100
    assert PoolerSpec(max_client_conn=50).sized_for(501).max_client_conn == 50
