"""The refusals for a run through a pooler (engine.guards): no server, no PgBouncer needed."""

from __future__ import annotations

import pytest

from dbkit.engine.guards import check_fleet_clients, check_pooled, check_pooled_clients
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec
from dbkit.model.server_info import ServerInfo
from dbkit.model.spec import RunSpec

INFO = ServerInfo("embedded", "18.6", 30, 3, 0, "dbkit_app", False)  # 27 for the role


def test_the_server_side_peak_is_the_pooler_s_pool_and_reserve() -> None:
    check_pooled(PoolerSpec(pool_size=20, reserve_pool_size=6), INFO)  # 26 = 27 - monitor
    with pytest.raises(ConfigError, match=r"27 server connections .* allows 26"):
        check_pooled(PoolerSpec(pool_size=20, reserve_pool_size=7), INFO)
    check_pooled(PoolerSpec(pool_size=20, reserve_pool_size=7, max_db_connections=26), INFO)


def test_clients_are_checked_against_max_client_conn_when_given() -> None:
    pool = RunSpec("pool", tasks=500, pool_size=150)
    check_pooled_clients(pool, PoolerSpec())  # max_client_conn left to the kit: sized to it
    check_pooled_clients(pool, PoolerSpec(max_client_conn=151))  # 150 + the console
    with pytest.raises(ConfigError, match="max_client_conn 150 - 1 console"):
        check_pooled_clients(pool, PoolerSpec(max_client_conn=150))
    # a storm is the experiment: its clients past max_client_conn meet PgBouncer's 08P01
    check_pooled_clients(RunSpec("unbatched", tasks=500), PoolerSpec(max_client_conn=100))
    with pytest.raises(ConfigError, match="fleet may open 200 connections"):
        check_fleet_clients(200, PoolerSpec(max_client_conn=200), None)
    check_fleet_clients(199, PoolerSpec(max_client_conn=200), None)


def test_a_statement_timeout_cannot_go_through_the_pooler() -> None:
    with pytest.raises(ConfigError, match="startup parameter, which PgBouncer refuses"):
        check_pooled_clients(RunSpec("pool", statement_timeout=1.0), PoolerSpec())
    with pytest.raises(ConfigError, match="startup parameter, which PgBouncer refuses"):
        check_fleet_clients(10, PoolerSpec(), 1.0)
