"""The pooler options the load commands share (cli.pooler_options) become one PoolerSpec."""

from __future__ import annotations

import pytest

from dbkit.cli.pooler_options import pooler_spec
from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec


def test_the_pooler_options_become_one_spec() -> None:
    assert pooler_spec(None) is None
    assert pooler_spec("pgbouncer") == PoolerSpec(pool_mode="transaction", pool_size=20)
    assert pooler_spec("pgbouncer", "session", 5, 300) == PoolerSpec(
        pool_mode="session", pool_size=5, max_client_conn=300
    )
    with pytest.raises(ConfigError, match="--pool-mode, --pooler-size without --pooler"):
        pooler_spec(None, "session", 5)
    with pytest.raises(ConfigError, match="unknown pooler 'odyssey'"):
        pooler_spec("odyssey")
    with pytest.raises(ConfigError, match=r"pool size .* at least 1"):
        pooler_spec("pgbouncer", pool_size=0)
