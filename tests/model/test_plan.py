"""Pool-budget arithmetic and deploy files: the incidents from REFERENCES, every bad input named."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from dbkit.model.errors import ConfigError
from dbkit.model.plan import Budget, Load, plan_fleet
from dbkit.model.pooler import PoolerSpec
from dbkit.model.server_info import ServerInfo
from dbkit.model.service import Service
from dbkit.present.plan import format_plan
from dbkit.servers import EmbeddedServer
from dbkit.store.deploy import build_plan, load_deploy, parse_service
from dbkit.strategies import for_driver

DEPLOYS = Path(__file__).resolve().parents[2] / "scenarios" / "deploys"


# --- the incidents ---------------------------------------------------------------------------


def test_16_workers_with_pool_30_overflow_15_is_720_and_623_over() -> None:
    svc = Service("web", replicas=1, workers=16, pool_size=30, max_overflow=15, driver="sqlalchemy")
    plan = plan_fleet([svc], Budget(max_connections=100))
    assert (svc.per_worker_peak, plan.total_peak, plan.total_steady) == (45, 720, 480)
    assert plan.budget.available == 97
    assert not plan.fits
    assert plan.over_by == 623
    assert plan.max_pool_per_worker == 6  # 97 // 16


def test_12_replicas_5_workers_pool_20_is_1200() -> None:
    plan = plan_fleet([Service("api", 12, 5, 20)], Budget(100))
    assert plan.total_peak == 1200
    assert plan.over_by == 1200 - 97
    assert plan.max_pool_per_worker == 1  # 97 // 60


def test_pool_100_overflow_100_against_100() -> None:
    svc = Service("one", 1, 1, pool_size=100, max_overflow=100, driver="sqlalchemy")
    plan = plan_fleet([svc], Budget(100))
    assert plan.total_peak == 200
    assert plan.over_by == 103
    assert plan.max_pool_per_worker == 97


def test_10_workers_pool_9_fits_in_97() -> None:
    plan = plan_fleet([Service("api", 1, 10, 9)], Budget(100))
    assert plan.fits and plan.over_by == 0
    assert plan.total_peak == 90
    assert plan.max_pool_per_worker == 9
    assert format_plan(plan)[-1] == "fits: 90 of 97 available"


def test_fits_is_inclusive_at_the_limit() -> None:
    assert plan_fleet([Service("a", 1, 1, 97)], Budget(100)).fits
    assert not plan_fleet([Service("a", 1, 1, 98)], Budget(100)).fits


# --- arithmetic details ----------------------------------------------------------------------


def test_steady_uses_asyncpg_min_size_and_sqlalchemy_pool_size() -> None:
    eager = Service("a", 2, 3, pool_size=10, min_size=2)
    lazy = Service("s", 2, 3, pool_size=10, max_overflow=5, driver="sqlalchemy")
    assert (eager.steady, eager.peak) == (12, 60)
    assert (lazy.steady, lazy.peak) == (60, 90)
    assert plan_fleet([eager, lazy], Budget(1000)).total_steady == 72


def test_budget_subtracts_every_reservation_and_may_go_negative() -> None:
    b = Budget(100, superuser_reserved=3, reserved=2, headroom=5, in_use=10)
    assert b.available == 80
    starved = plan_fleet([Service("a", 1, 4, 1)], Budget(5, superuser_reserved=3, headroom=5))
    assert starved.budget.available == -3
    assert starved.max_pool_per_worker == 0
    assert starved.over_by == 7


def test_budget_from_server_reads_the_reserved_settings() -> None:
    info = ServerInfo("embedded", "17.0", 200, 5, 4, "dbkit_app", False)
    b = Budget.from_server(info, headroom=10, in_use=1)
    assert b.available == 200 - 5 - 4 - 10 - 1


def test_max_pool_per_worker_spans_all_services() -> None:
    plan = plan_fleet([Service("a", 2, 4, 5), Service("b", 1, 2, 5)], Budget(100))
    assert plan.max_pool_per_worker == 97 // 10


def test_surge_raises_replicas_but_never_lowers_them() -> None:
    small, big = Service("small", 2, 2, 5), Service("big", 6, 1, 5)
    plan = plan_fleet([small, big], Budget(100), scale_to=4)
    assert plan.total_peak == 20 + 30
    assert plan.surge_peak == 4 * 2 * 5 + 6 * 1 * 5
    assert plan.surge_fits is True
    tight = plan_fleet([small, big], Budget(60), scale_to=4)
    assert tight.fits and tight.surge_fits is False
    assert tight.to_dict()["surge"] == {
        "scale_to": 4, "peak": 70, "fits": False, "over_by": 13, "breaks_first": "server"
    }  # fmt: skip
    assert plan_fleet([small], Budget(100)).surge_peak is None


def test_to_dict_is_json_ready_with_the_budget_parts() -> None:
    plan = plan_fleet([Service("api", 3, 2, 20)], Budget(100, headroom=5), scale_to=4)
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["budget"] == 92 and data["headroom"] == 5 and data["max_connections"] == 100
    assert (data["total_peak"], data["fits"], data["over_by"]) == (120, False, 28)
    assert data["services"][0]["peak"] == 120 and data["services"][0]["driver"] == "asyncpg"
    assert data["surge"]["peak"] == 160
    assert "surge" not in plan_fleet([Service("api", 1, 1, 1)], Budget(100)).to_dict()


def test_format_plan_verdict_when_over() -> None:
    lines = format_plan(plan_fleet([Service("api", 12, 5, 20)], Budget(100)))
    assert lines[0].split()[:2] == ["service", "replicas"]
    assert any(line.startswith("api") and line.endswith("1200") for line in lines)
    assert "= 97 available" in lines[-2]
    assert lines[-1].startswith("OVER by 1103:")
    assert lines[-1].endswith("largest per-worker pool_size + max_overflow that fits: 1")


def test_max_overflow_is_sqlalchemy_only() -> None:
    # an asyncpg pool never opens overflow connections: counting them would inflate the peak
    with pytest.raises(ConfigError, match=r"service api: max_overflow = 5: a SQLAlchemy option"):
        Service("api", 2, 2, 5, max_overflow=5)
    text = "api:replicas=2,workers=2,pool_size=5,driver=asyncpg,max_overflow=5"
    with pytest.raises(ConfigError) as err:
        parse_service(text)
    assert str(err.value).startswith(f"--service {text!r}: service api: max_overflow = 5")
    assert Service("api", 2, 2, 5, max_overflow=0).peak == 20


def test_psycopg_services_plan_like_asyncpg_and_run_as_the_psycopg_strategy() -> None:
    svc = Service("api", replicas=2, workers=2, pool_size=10, min_size=4, driver="psycopg")
    assert (svc.steady, svc.peak, for_driver(svc.driver).name) == (16, 40, "psycopg")
    assert [for_driver(d).name for d in ("asyncpg", "sqlalchemy")] == ["pool", "sqlalchemy"]
    # psycopg_pool has min_size/max_size and no overflow, like asyncpg's
    with pytest.raises(ConfigError, match=r"a SQLAlchemy option; psycopg's pool has no overflow"):
        Service("api", 2, 2, 5, max_overflow=5, driver="psycopg")
    assert parse_service("api:replicas=2,workers=2,pool_size=5,driver=psycopg") == Service(
        "api", 2, 2, 5, driver="psycopg"
    )


def test_budget_and_plan_reject_bad_input() -> None:
    with pytest.raises(ConfigError, match="headroom = -1"):
        Budget(100, headroom=-1)
    with pytest.raises(ConfigError, match="no services"):
        plan_fleet([], Budget(100))
    with pytest.raises(ConfigError, match="api given twice"):
        plan_fleet([Service("api", 1, 1, 1)] * 2, Budget(100))
    with pytest.raises(ConfigError, match="scale_to = 0"):
        plan_fleet([Service("api", 1, 1, 1)], Budget(100), scale_to=0)


# --- a pooler in the path --------------------------------------------------------------------

# 12 replicas x 5 workers x pool 20 = 1,200 client connections (the incident above)
INCIDENT = Service("api", 12, 5, 20)


def test_clients_fit_max_client_conn_but_the_poolers_pools_exceed_the_server() -> None:
    # 4 databases x 2 users = 8 pools x (20 + 5) = 200 server connections against 97
    pooler = PoolerSpec(pool_size=20, reserve_pool_size=5, max_client_conn=2000, databases=4,
                        users=2)  # fmt: skip
    plan = plan_fleet([INCIDENT], Budget(100), pooler=pooler)
    load = plan.load
    assert (load.clients, load.accepted, load.client_over_by) == (1200, 1200, 0)
    assert load.server == 200  # the pooler's pools, not the fleet's 1,200
    assert plan.over_by == 103 and not plan.fits and plan.breaks_first == "server"
    assert plan.max_db_connections_that_fits == 24  # 97 // 4 databases
    assert plan.max_pool_per_worker == 1  # 97 clients at most // 60 processes
    capped = plan_fleet([INCIDENT], Budget(100), pooler=replace(pooler, max_db_connections=24))
    assert capped.fits and capped.load.server == 96 and capped.breaks_first is None
    assert capped.max_pool_per_worker == 33  # then only max_client_conn bounds them: 2000 // 60
    lines = format_plan(plan)
    assert any(line.startswith("OVER: the server breaks first, at 98 clients") for line in lines)
    assert lines[-1] == (
        "to fit: max_db_connections = 24 (the pooler at most 96), "
        "or per-worker pool_size + max_overflow at most 1"
    )


def test_the_pooler_fits_the_server_but_clients_exceed_max_client_conn() -> None:
    pooler = PoolerSpec(pool_size=20, max_client_conn=1000)  # one pool: 20 server connections
    plan = plan_fleet([INCIDENT], Budget(100), pooler=pooler)
    load = plan.load
    assert (load.accepted, load.client_over_by, load.server) == (1000, 200, 20)
    assert load.server_over_by == 0 == plan.over_by
    assert not plan.fits and plan.breaks_first == "client"
    assert plan.max_pool_per_worker == 16  # 1000 // 60
    lines = format_plan(plan)
    assert lines[-2].startswith("OVER: max_client_conn breaks first, at 1001 clients")
    assert lines[-1].startswith("to fit: max_client_conn = 1200, or per-worker")
    doc = plan.to_dict()
    assert doc["breaks_first"] == "client" and doc["fits"] is False
    assert doc["pooler"]["client_over_by"] == 200 and doc["pooler"]["server_peak"] == 20
    json.dumps(doc)


def test_both_broken_the_server_is_reached_first() -> None:
    # 1,200 clients past max_client_conn 500, and the 500 let in pass a pool of 200 > 97
    pooler = PoolerSpec(pool_size=200, max_client_conn=500)
    plan = plan_fleet([INCIDENT], Budget(100), pooler=pooler)
    assert plan.load.client_over_by == 700 and plan.load.server == 200
    assert plan.breaks_first == "server"
    assert "max_client_conn too: 1200 clients > 500" in format_plan(plan)[-2]


def test_the_pooler_never_opens_more_server_connections_than_clients_it_lets_in() -> None:
    small = Service("api", 1, 6, 10)  # 60 clients
    big_pool = PoolerSpec(pool_size=20, databases=10)  # may open 200 > 97
    plan = plan_fleet([small], Budget(100), pooler=big_pool)
    assert plan.load.server == 60 and plan.fits and plan.breaks_first is None
    lines = format_plan(plan)
    assert (
        lines[-2]
        == "fits: 60 clients of max_client_conn 100, 60 server connections of 97 available"
    )
    assert lines[-1].startswith("note: the pooler may open 200 server connections")
    # max_client_conn below the budget bounds the server's side too: 97 would fit, 90 get in
    door = PoolerSpec(pool_size=100, max_client_conn=90)
    load = Load(clients=150, available=97, pooler=door)
    assert (load.accepted, load.server, load.breaks_first) == (90, 90, "client")


def test_session_mode_notes_the_clients_past_the_poolers_server_connections() -> None:
    session = PoolerSpec(pool_mode="session", pool_size=20, max_client_conn=100)
    plan = plan_fleet([Service("api", 1, 6, 10)], Budget(100), pooler=session)  # 60 clients
    assert plan.fits and plan.load.session_waits == 40
    assert plan.to_dict()["pooler"]["session_waits"] == 40
    assert any(
        line.startswith("note: session mode: 40 of the 60 clients") for line in format_plan(plan)
    )
    transaction = plan_fleet([Service("api", 1, 6, 10)], Budget(100), pooler=PoolerSpec())
    assert transaction.load.session_waits == 0


def test_without_a_pooler_the_load_is_the_fleets() -> None:
    load = Load(clients=120, available=97)
    assert (load.server, load.accepted, load.client_over_by, load.server_over_by) == (
        120,
        120,
        0,
        23,
    )
    assert load.breaks_first == "server" and load.client_limit == 97
    assert Load(clients=97, available=97).breaks_first is None


def test_a_surge_goes_through_the_pooler_too() -> None:
    pooler = PoolerSpec(pool_size=20, max_client_conn=100)
    plan = plan_fleet([Service("api", 2, 5, 5)], Budget(100), scale_to=3, pooler=pooler)
    assert plan.fits  # 50 clients, 20 server connections
    assert plan.surge_peak == 75 and plan.surge_fits
    surged = plan_fleet([Service("api", 2, 5, 5)], Budget(100), scale_to=6, pooler=pooler)
    assert surged.surge_peak == 150 and surged.surge_fits is False
    assert surged.to_dict()["surge"] == {
        "scale_to": 6, "peak": 150, "fits": False, "over_by": 0, "breaks_first": "client",
        "server_peak": 20, "client_over_by": 50,
    }  # fmt: skip
    assert not surged.passes
    assert "max_client_conn breaks first (150 clients, OVER by 50)" in format_plan(surged)[-1]


# --- deploy files ----------------------------------------------------------------------------


def test_shipped_deploys_fit_and_overcommit() -> None:
    fits = load_deploy(DEPLOYS / "fits.toml")
    plan = plan_fleet(fits.services, fits.budget())
    assert plan.fits and plan.total_peak == 90
    over = load_deploy(DEPLOYS / "overcommitted.toml")
    plan = plan_fleet(over.services, over.budget())
    assert not plan.fits and plan.over_by > 0


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    return path


GOOD_SERVICE = "[services.api]\nreplicas = 8\nworkers = 4\npool_size = 10\n"


def test_load_deploy_reads_database_and_services(tmp_path: Path) -> None:
    text = (
        "[database]\nmax_connections = 500\nreserved = 3\nreserved_connections = 2\n"
        "headroom = 5\n" + GOOD_SERVICE + 'max_overflow = 5\ndriver = "sqlalchemy"\n'
    )
    deploy = load_deploy(_write(tmp_path, text))
    assert deploy.database == {
        "max_connections": 500,
        "reserved": 3,
        "reserved_connections": 2,
        "headroom": 5,
    }
    assert deploy.services == (Service("api", 8, 4, 10, 5, driver="sqlalchemy"),)
    text = GOOD_SERVICE + 'min_size = 2\ndriver = "psycopg"\n'
    (tmp_path / "psycopg").mkdir()
    psycopg_deploy = load_deploy(_write(tmp_path / "psycopg", text))
    assert psycopg_deploy.services == (Service("api", 8, 4, 10, min_size=2, driver="psycopg"),)
    assert deploy.budget().available == 490


def test_deploy_budget_falls_back_to_the_server(tmp_path: Path) -> None:
    deploy = load_deploy(_write(tmp_path, "[database]\nheadroom = 5\n" + GOOD_SERVICE))
    info = ServerInfo("embedded", "17.0", 200, 5, 4, "dbkit_app", False)
    assert deploy.budget(info).available == 200 - 5 - 4 - 5
    with pytest.raises(ConfigError, match="max_connections"):
        deploy.budget()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (GOOD_SERVICE + "pool = 3\n", "services.api.pool"),
        ("[database]\nmax_conections = 100\n" + GOOD_SERVICE, "database.max_conections"),
        ("owner = 'me'\n" + GOOD_SERVICE, "unknown key owner"),
        (GOOD_SERVICE.replace("= 10", '= "10"'), "services.api.pool_size = '10'"),
        (GOOD_SERVICE.replace("= 10", "= 10.5"), "services.api.pool_size = 10.5"),
        (GOOD_SERVICE.replace("= 8", "= true"), "services.api.replicas = True"),
        ("[database]\nheadroom = false\n" + GOOD_SERVICE, "database.headroom = False"),
        (GOOD_SERVICE.replace("= 4", "= -2"), "service api: workers = -2"),
        (GOOD_SERVICE.replace("= 10", "= 0"), "service api: pool_size = 0"),
        ("[database]\nmax_connections = 0\n" + GOOD_SERVICE, "database.max_connections = 0"),
        ("[database]\nreserved = -1\n" + GOOD_SERVICE, "database.reserved = -1"),
        (GOOD_SERVICE.replace("workers = 4\n", ""), "services.api.workers: missing"),
        (GOOD_SERVICE + 'driver = "psycopg2"\n', "service api: driver = 'psycopg2'"),
        ("[services]\napi = 3\n", "services.api = 3"),
        ("[database]\nmax_connections = 100\n", "services: needs at least one"),
    ],
)
def test_load_deploy_errors_name_file_key_and_value(tmp_path: Path, text: str, named: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_deploy(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ")
    assert named in message


def test_load_deploy_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[services.api\nreplicas = 1\n")
    with pytest.raises(ConfigError, match="malformed TOML") as err:
        load_deploy(path)
    assert str(path) in str(err.value)


def test_load_deploy_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_deploy(tmp_path / "nope.toml")


# --- --service options -----------------------------------------------------------------------


def test_parse_service_happy_path() -> None:
    svc = parse_service("api:replicas=8,workers=4,pool_size=10,max_overflow=5,driver=sqlalchemy")
    assert svc == Service("api", 8, 4, 10, 5, driver="sqlalchemy")
    assert svc.peak == 480
    assert parse_service(" jobs : replicas=1, workers=2, pool_size=3, min_size=1").steady == 2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("api", "expected NAME:key=value"),
        (":replicas=1,workers=1,pool_size=1", "expected NAME:key=value"),
        ("api:replicas=1,workers=1,pool=1", "unknown key pool"),
        ("api:replicas=x,workers=1,pool_size=1", "replicas = 'x'"),
        ("api:replicas=1,workers=1,pool_size", "'pool_size': expected key=value"),
        ("api:replicas=1,workers=1", "pool_size: missing"),
        ("api:replicas=1,replicas=2,workers=1,pool_size=1", "replicas: given twice"),
        ("api:replicas=0,workers=1,pool_size=1", "service api: replicas = 0"),
        ("api:replicas=1,workers=1,pool_size=1,driver=pg", "service api: driver = 'pg'"),
    ],
)
def test_parse_service_errors_name_option_and_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_service(text)
    message = str(err.value)
    assert message.startswith(f"--service {text!r}: ")
    assert named in message


def test_a_pool_larger_than_the_server_is_the_plan_verdict_as_with_options(
    tmp_path: Path,
) -> None:
    # The same numbers in a file and as options give the same answer: a plan that is OVER
    # (exit 1), not bad input (exit 2); and --max-connections overrides the file's number.
    path = tmp_path / "deploy.toml"
    path.write_text(
        "[database]\nmax_connections = 100\n"
        "[services.api]\nreplicas = 1\nworkers = 1\npool_size = 100\nmax_overflow = 100\n"
        'driver = "sqlalchemy"\n'
    )
    from_file = build_plan(path)
    from_options = build_plan(
        services=["api:replicas=1,workers=1,pool_size=100,max_overflow=100,driver=sqlalchemy"],
        max_connections=100,
    )
    assert not from_file.fits and from_file.to_dict() == from_options.to_dict()
    assert build_plan(path, max_connections=300).fits


def test_the_largest_pool_that_fits_counts_max_overflow() -> None:
    svc = Service("api", 1, 1, pool_size=90, max_overflow=20, driver="sqlalchemy")
    plan = plan_fleet([svc], Budget(100))
    assert (plan.max_pool_per_worker, plan.max_pool_size(svc)) == (97, 77)
    assert plan.to_dict()["services"][0]["max_pool_size"] == 77
    verdict = format_plan(plan)[-1]
    assert verdict == (
        "OVER by 13: peak 110 > 97 available; largest per-worker pool_size + max_overflow "
        "that fits: 97 (api: pool_size 77 + max_overflow 20)"
    )
    big = Service("big", 1, 40, pool_size=1, max_overflow=5, driver="sqlalchemy")
    starved = plan_fleet([big], Budget(100))
    assert starved.max_pool_per_worker == 2 and starved.max_pool_size(big) == 0
    assert format_plan(starved)[-1].endswith("(big: max_overflow 5 alone is more)")


# --- where the budget comes from -------------------------------------------------------------

FILE_SAYS_100 = "[database]\nmax_connections = 100\nreserved = 3\nheadroom = 5\n" + GOOD_SERVICE


def test_the_server_wins_over_the_file_and_options_win_over_both(tmp_path: Path) -> None:
    deploy = load_deploy(_write(tmp_path, FILE_SAYS_100))
    info = ServerInfo("embedded", "17.0", 40, 2, 1, "dbkit_app", False)
    budget = deploy.budget(info)
    # the server's settings; headroom, which a server has no setting for, from the file
    assert (budget.max_connections, budget.superuser_reserved, budget.reserved) == (40, 2, 1)
    assert budget.headroom == 5 and budget.available == 40 - 2 - 1 - 5
    chosen = deploy.budget(info, max_connections=60, reserved=0, headroom=0)
    assert (chosen.max_connections, chosen.superuser_reserved, chosen.headroom) == (60, 0, 0)
    assert deploy.budget(max_connections=50).available == 50 - 3 - 5


def test_plan_budget_from_a_live_server_not_the_file(tmp_path: Path, pg20: EmbeddedServer) -> None:
    path = _write(tmp_path, FILE_SAYS_100)
    plan = build_plan(path, dsn=pg20.admin_dsn)
    assert plan.budget.max_connections == 20  # the server's, not the file's 100
    assert plan.budget.superuser_reserved == pg20.info.superuser_reserved_connections
    assert plan.budget.headroom == 5
    assert build_plan(path, dsn=pg20.admin_dsn, max_connections=30).budget.max_connections == 30


def test_no_max_connections_names_every_remedy() -> None:
    with pytest.raises(ConfigError) as err:
        build_plan(services=["api:replicas=2,workers=2,pool_size=5"])
    message = str(err.value)
    for remedy in ("--max-connections N", "--dsn", "[database] max_connections"):
        assert remedy in message


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (
            {"max_connections": 100, "reserved": 200},
            "superuser_reserved 200 (--reserved) = 200 must be below max_connections 100 "
            "(--max-connections)",
        ),
        (
            {"max_connections": 10, "reserved": 3, "headroom": 7},
            "superuser_reserved 3 (--reserved) + headroom 7 (--headroom) = 10 must be below",
        ),
        ({"max_connections": 3}, "superuser_reserved 3 (default) = 3 must be below"),
    ],
)
def test_reserved_slots_must_leave_some_of_max_connections(
    options: dict[str, int], named: str
) -> None:
    with pytest.raises(ConfigError) as err:
        build_plan(services=["api:replicas=2,workers=2,pool_size=5"], **options)
    assert named in str(err.value)


def test_reserved_from_the_file_is_named_with_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, "[database]\nmax_connections = 100\nreserved = 150\n" + GOOD_SERVICE)
    with pytest.raises(ConfigError) as err:
        build_plan(path)
    message = str(err.value)
    assert f"({path}: database.reserved = 150)" in message
    assert f"max_connections 100 ({path}: database.max_connections = 100)" in message
    # one slot left is a budget (and a verdict), not an error
    plan = build_plan(path, reserved=94, headroom=5)
    assert plan.budget.available == 1 and not plan.fits


def test_scale_to_below_every_service_is_a_scale_down_not_a_surge() -> None:
    down = plan_fleet([Service("api", 4, 2, 5), Service("jobs", 3, 1, 5)], Budget(100), scale_to=2)
    last = format_plan(down)[-1]
    assert "surge to" not in last
    assert last == "scale-down to 2 replicas: no surge, peak 55 as now (fits)"
    up = plan_fleet([Service("api", 4, 2, 5), Service("jobs", 1, 1, 5)], Budget(100), scale_to=2)
    assert format_plan(up)[-1] == "surge to 2 replicas: peak 50, fits"
