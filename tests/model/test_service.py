"""dbkit.model.service: a deployed service, each figure checked as it is given."""

from __future__ import annotations

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.service import Service, check_services


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"replicas": 0}, "replicas"),
        ({"workers": -1}, "workers"),
        ({"pool_size": 0}, "pool_size"),
        ({"max_overflow": -1}, "max_overflow"),
        ({"min_size": 11}, "min_size"),
        ({"driver": "psycopg2"}, "driver"),
        ({"replicas": True}, "replicas"),
    ],
)
def test_service_rejects_bad_values(kwargs: dict[str, object], key: str) -> None:
    args: dict[str, object] = {"replicas": 1, "workers": 1, "pool_size": 10, **kwargs}
    with pytest.raises(ConfigError, match=rf"service api: {key} = "):
        Service("api", **args)  # type: ignore[arg-type]


def test_min_size_is_asyncpg_only() -> None:
    with pytest.raises(ConfigError, match="min_size"):
        Service("s", 1, 1, 10, min_size=2, driver="sqlalchemy")


def test_a_service_multiplies_its_replicas_workers_and_pool() -> None:
    svc = Service("api", replicas=3, workers=4, pool_size=10, max_overflow=5, driver="sqlalchemy")
    assert (svc.processes, svc.per_worker_peak, svc.peak, svc.steady) == (12, 15, 180, 120)
    assert svc.peak_at(5) == 300


def test_services_are_named_once_and_there_is_one_at_least() -> None:
    with pytest.raises(ConfigError, match="fleet: no services given"):
        check_services([], "fleet")
    with pytest.raises(ConfigError, match="plan: service api given twice"):
        check_services([Service("api", 1, 1, 1), Service("api", 2, 1, 1)], "plan")
