"""Deploy files' [pooler] table: the PoolerSpec it describes, and every bad key refused naming
the file, the key and the value."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.pooler import PoolerSpec
from dbkit.store.deploy import build_plan, collect_deploy, load_deploy

DEPLOYS = Path(__file__).resolve().parents[2] / "scenarios" / "deploys"
SERVICE = "[services.api]\nreplicas = 12\nworkers = 5\npool_size = 20\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    return path


def test_a_pooler_table_loads_as_a_pooler_spec(tmp_path: Path) -> None:
    text = (
        '[pooler]\nkind = "pgbouncer"\npool_mode = "session"\ndefault_pool_size = 25\n'
        "reserve_pool_size = 5\nmax_client_conn = 2000\nmax_db_connections = 60\n"
        "max_user_connections = 90\nmax_prepared_statements = 100\nquery_wait_timeout = 30.5\n"
        "databases = 4\nusers = 2\n" + SERVICE
    )
    deploy = load_deploy(_write(tmp_path, text))
    assert deploy.pooler == PoolerSpec(
        pool_mode="session", pool_size=25, reserve_pool_size=5, max_client_conn=2000,
        max_db_connections=60, max_user_connections=90, max_prepared_statements=100,
        query_wait_timeout=30.5, databases=4, users=2,
    )  # fmt: skip
    # --service options join the file's services; the file's pooler comes along
    both = collect_deploy(_write(tmp_path, text), ["jobs:replicas=1,workers=1,pool_size=2"])
    assert both.pooler == deploy.pooler and len(both.services) == 2


def test_an_empty_pooler_table_is_pgbouncers_defaults_and_none_is_direct(tmp_path: Path) -> None:
    assert load_deploy(_write(tmp_path, "[pooler]\n" + SERVICE)).pooler == PoolerSpec()
    assert load_deploy(_write(tmp_path, SERVICE)).pooler is None


def test_build_plan_puts_the_files_pooler_in_the_path(tmp_path: Path) -> None:
    text = "[pooler]\nmax_client_conn = 1000\n" + SERVICE  # 1,200 clients, one pool of 20
    plan = build_plan(_write(tmp_path, text), max_connections=100)
    assert plan.pooler == PoolerSpec(max_client_conn=1000)
    assert plan.breaks_first == "client" and plan.load.server == 20
    assert build_plan(_write(tmp_path, SERVICE), max_connections=100).breaks_first == "server"


def test_the_shipped_pooled_deploy_fits_where_the_direct_one_does_not() -> None:
    plan = build_plan(DEPLOYS / "pooled.toml")
    assert plan.fits and plan.total_peak == 180 and plan.load.server == 80
    direct = build_plan(DEPLOYS / "overcommitted.toml")
    assert direct.total_peak == 180 and not direct.fits


@pytest.mark.parametrize(
    ("pooler", "named"),
    [
        ("pool_size = 10\n", "unknown key pooler.pool_size"),
        ('kind = "pgpool"\n', "pooler.kind = 'pgpool': unknown pooler"),
        ('pool_mode = "statement"\n', "pooler.pool_mode = 'statement': unknown pool mode"),
        ("default_pool_size = 0\n", "pooler.default_pool_size = 0: "),
        ('max_client_conn = "100"\n', "pooler.max_client_conn = '100': "),
        ("max_db_connections = -1\n", "pooler.max_db_connections = -1: "),
        ("reserve_pool_size = true\n", "pooler.reserve_pool_size = True: "),
        ("databases = 0\n", "pooler.databases = 0: databases must be at least 1"),
        ("users = 2.5\n", "pooler.users = 2.5: users must be a whole number"),
        ("query_wait_timeout = -1\n", "pooler.query_wait_timeout = -1: "),
    ],
)
def test_bad_pooler_keys_are_refused_naming_file_and_key(
    tmp_path: Path, pooler: str, named: str
) -> None:
    path = _write(tmp_path, "[pooler]\n" + pooler + SERVICE)
    with pytest.raises(ConfigError) as err:
        load_deploy(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert named in message and "\n" not in message


def test_a_pooler_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, 'pooler = "pgbouncer"\n' + SERVICE)
    with pytest.raises(ConfigError, match="pooler = 'pgbouncer': must be a table"):
        load_deploy(path)
