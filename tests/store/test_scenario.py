"""Scenario files and run specs: every bad value is an error naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.engine.run import expand
from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec
from dbkit.store.scenario import find_scenario, load_scenario

SHIPPED = ("storm", "pool", "compare", "sleep")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load(name: str) -> None:
    scen = load_scenario(name)
    assert scen.runs and scen.description
    assert scen.max_connections == 100


def test_pool_scenario_has_the_failure_three_pools_and_sqlalchemy() -> None:
    runs = load_scenario("pool").runs
    strategies = [r.strategy for r in runs]
    assert strategies[0] == "unbatched"
    assert len({r.pool_size for r in runs if r.strategy == "pool"}) >= 3
    assert "sqlalchemy" in strategies
    assert {r.tasks for r in runs} == {1000}
    assert any(r.strategy == "pool" and r.pool_size == 90 for r in runs)


def test_compare_scenario_has_asyncpg_sqlalchemy_and_psycopg_pools_of_50() -> None:
    runs = {r.strategy: r for r in load_scenario("compare").runs}
    assert {"pool", "sqlalchemy", "psycopg"} <= set(runs)
    widths = [runs[s].pool_size + runs[s].max_overflow for s in ("pool", "sqlalchemy", "psycopg")]
    assert widths == [50, 50, 50]


def test_sleep_scenario_expands_to_both_modes_at_three_sizes() -> None:
    runs = expand(load_scenario("sleep").runs)
    assert [(r.tasks, r.mode) for r in runs] == [
        (n, m) for n in (1_000, 10_000, 100_000) for m in ("unbatched", "batched")
    ]


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "s.toml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("runs = [", "malformed TOML"),
        ('bogus = 1\n[[runs]]\nstrategy = "pool"', "unknown key bogus"),
        ('[[runs]]\nstrategy = "pool"\npool_sise = 3', "unknown key runs[0].pool_sise"),
        ('[[runs]]\nstrategy = "pool"\npool_size = "ten"', "runs[0].pool_size: wrong type"),
        ('[[runs]]\nstrategy = "pool"\npool_size = true', "runs[0].pool_size: wrong type"),
        ('[[runs]]\nstrategy = "pool"\npool_size = 0', "pool_size must be at least 1 (got 0)"),
        ('[[runs]]\nstrategy = "unbatched"\ntasks = -5', "tasks must be at least 1 (got -5)"),
        ('[[runs]]\nstrategy = "warp"', "unknown strategy 'warp'"),
        ("[[runs]]\ntasks = 5", "runs[0].strategy: missing"),
        ('[server]\nmax_connections = 0\n[[runs]]\nstrategy = "pool"', "server.max_connections"),
        ('[defaults]\nstrategy = "pool"\n[[runs]]\ntasks = 1', "unknown key defaults.strategy"),
        ("description = 'x'", "runs: needs at least one"),
        ("runs = []", "runs: needs at least one"),
        ('runs = "x"', "runs must be an array of tables ([[runs]]), got a string"),
        ("runs = 3", "runs must be an array of tables ([[runs]]), got an integer"),
        ('[runs]\nstrategy = "pool"', "runs must be an array of tables ([[runs]]), got a table"),
        ("runs = [1]", "runs[0] = 1: must be a table, got an integer"),
        ('server = "big"', "server = 'big': must be a table, got a string"),
        ('[[runs]]\nstrategy = "pool"\nhold = nan', "runs[0].hold = nan: must be a finite number"),
        ('[[runs]]\nstrategy = "pool"\nhold = inf', "runs[0].hold = inf: must be a finite number"),
        (
            '[[runs]]\nstrategy = "pool"\nacquire_timeout = -inf',
            "runs[0].acquire_timeout = -inf: must be a finite number",
        ),
        (
            '[[runs]]\nstrategy = "pool"\nconnect_timeout = +nan',
            "runs[0].connect_timeout = nan: must be a finite number",
        ),
        (
            '[[runs]]\nstrategy = "pool"\nstatement_timeout = inf',
            "runs[0].statement_timeout = inf: must be a finite number",
        ),
        ('[defaults]\nhold = nan\n[[runs]]\nstrategy = "pool"', "defaults.hold = nan: must be"),
        ('[defaults]\nhold = "x"\n[[runs]]\nstrategy = "pool"', "defaults.hold: wrong type"),
        (
            '[[runs]]\nstrategy = "pool"\npool_size = 150',
            "runs[0].pool_size = 150: larger than server.max_connections 100",
        ),
        (
            '[[runs]]\nstrategy = "psycopg"\npool_size = 150',
            "runs[0].pool_size = 150: larger than server.max_connections 100",
        ),
        (
            '[server]\nmax_connections = 20\n[[runs]]\nstrategy = "sqlalchemy"\npool_size = 15\n'
            "max_overflow = 10",
            "runs[0].pool_size + max_overflow = 25: larger than server.max_connections 20",
        ),
        ('[[runs]]\nstrategy = "pool"\nlimit = 5', "runs[0]: pool does not use limit; it takes"),
        ('[[runs]]\nstrategy = "sleep"\nsql = "SELECT 1"', "runs[0]: sleep does not use sql"),
        ('[defaults]\nlimit = 5\n[[runs]]\nstrategy = "pool"', "defaults.limit: no run's"),
        # the guards every entry point passes (engine.guards), for a library's load_scenario
        (
            '[[runs]]\nstrategy = "pool"\nfault = "stop@1"\n[[runs]]\nstrategy = "unbatched"',
            "pool-10: a stop fault leaves no server for the runs after it (unbatched)",
        ),
        ('[[runs]]\nstrategy = "sleep"\ntasks = 10_000_000', "need about"),
        ('[[runs]]\nstrategy = "unbatched"\npooler = true', "runs[0].pooler: there is no [pooler]"),
        ('[pooler]\npool_size = 5\n[[runs]]\nstrategy = "unbatched"', "no run says pooler = true"),
        ('[pooler]\npool_sise = 5\n[[runs]]\nstrategy = "pool"\npooler = true', "pooler.pool_sise"),
        ('[pooler]\npool_mode = "x"\n[[runs]]\nstrategy = "pool"\npooler = true', "pool mode 'x'"),
        ('[pooler]\n[[runs]]\nstrategy = "pool"\npooler = 1', "runs[0].pooler: must be true"),
        (
            '[[runs]]\nstrategy = "psycopg"\nstatement_cache = 0',
            "psycopg does not use statement_cache",
        ),
        (
            '[[runs]]\nstrategy = "pool"\nrate = 10\nduration = 2\ntasks = 20',
            "runs[0]: tasks does not go with rate",
        ),
        ('[[runs]]\nstrategy = "pool"\nrate = 10', "runs[0]: an open-loop run needs rate and"),
        ('[[runs]]\nstrategy = "pool"\narrivals = "fixed"', "arrivals applies to an open-loop"),
        ('[[runs]]\nstrategy = "pool"\nrate = "fast"', "runs[0].rate: wrong type"),
    ],
)
def test_bad_scenario_files(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_scenario(path)
    assert path in str(info.value)
    assert needle in str(info.value)


def test_missing_scenario_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no scenario 'nope'; known: .*pool"):
        find_scenario("nope")
    with pytest.raises(ConfigError, match=r"no scenario file nope/x.toml"):
        find_scenario("nope/x.toml")


def test_an_existing_file_without_toml_is_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("noext.txt").write_text('description = "d"\n[[runs]]\nstrategy = "pool"\n')
    Path("plain").write_text('[[runs]]\nstrategy = "semaphore"\n')
    assert load_scenario("noext.txt").runs[0].strategy == "pool"
    assert load_scenario("plain").runs[0].strategy == "semaphore"
    assert load_scenario(str(tmp_path / "noext.txt")).name == "noext"


def test_a_named_scenario_wins_over_a_local_file_of_that_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pool").mkdir()
    assert find_scenario("pool").name == "pool.toml"


@pytest.mark.parametrize("name", ["dir.toml", "dir.toml/", "plaindir"])
def test_a_directory_is_named_as_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("dir.toml").mkdir()
    Path("plaindir").mkdir()
    with pytest.raises(ConfigError, match=r"is a directory, not a scenario file"):
        find_scenario(name)


@pytest.mark.parametrize("name", ["", "   ", "x" * 5000, "/dev/null"])
def test_odd_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError):
        load_scenario(name)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"tasks": 0}, "tasks must be at least 1"),
        ({"queries": 0}, "queries must be at least 1"),
        ({"hold": -1.0}, "hold must be zero or more"),
        ({"strategy": "pool", "min_size": 20}, "min_size must be within 0..pool_size"),
        ({"acquire_timeout": 0.0}, "acquire_timeout must be above 0"),
        ({"mode": "batched"}, "unbatched does not use mode"),
        ({"sql": "  "}, "sql must not be empty"),
    ],
)
def test_run_spec_validation(changes: dict[str, object], needle: str) -> None:
    values = {"strategy": "unbatched", **changes}
    with pytest.raises(ConfigError, match=needle):
        RunSpec(**values)  # type: ignore[arg-type]


def test_defaults_follow_the_post() -> None:
    spec = RunSpec("batched", tasks=1000)
    assert spec.effective_batch_size == 200  # five batches
    assert spec.workload.statement == "SELECT pg_sleep(0.1)"
    assert spec.workload.task_hold_s == pytest.approx(0.3)


def test_a_default_applies_to_the_runs_that_use_it(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '[defaults]\npool_size = 7\nlimit = 5\n[[runs]]\nstrategy = "pool"\n'
        '[[runs]]\nstrategy = "semaphore"\n',
    )
    pool, semaphore = load_scenario(path).runs
    assert (pool.pool_size, semaphore.limit) == (7, 5)


def test_the_same_rule_as_the_command_line() -> None:
    from dbkit.store.scenario import build_spec

    with pytest.raises(ConfigError, match="pool does not use --limit"):
        build_spec({"strategy": "pool", "limit": 5}, "options", "run", spell=lambda f: f"--{f}")


def test_size_checks_use_the_max_connections_that_will_be_used(tmp_path: Path) -> None:
    big = _write(tmp_path, '[[runs]]\nstrategy = "pool"\npool_size = 150')
    assert load_scenario(big, max_connections=200).max_connections == 200
    small = tmp_path / "small.toml"
    small.write_text(
        '[server]\nmax_connections = 200\n[[runs]]\nstrategy = "pool"\npool_size = 150'
    )
    with pytest.raises(ConfigError, match="larger than --max-connections 100"):
        load_scenario(str(small), max_connections=100)


def test_the_pgbouncer_scenario_sends_the_marked_runs_through_its_pooler() -> None:
    scen = load_scenario("pgbouncer")
    assert scen.pooler is not None
    assert (scen.pooler.pool_mode, scen.pooler.pool_size) == ("transaction", 20)
    assert scen.pooled == (False, True, True, True, True)
    assert [r.statement_cache for r in scen.runs] == [None, None, 100, 0, None]
    assert {r.tasks for r in scen.runs} == {1000}


def test_a_pooled_pool_larger_than_the_server_is_the_pooler_s_to_keep(tmp_path: Path) -> None:
    text = (
        "[server]\nmax_connections = 20\n[pooler]\npool_size = 5\n"
        '[[runs]]\nstrategy = "pool"\npool_size = 50\npooler = true'
    )
    assert load_scenario(_write(tmp_path, text)).runs[0].pool_size == 50


def test_open_loop_runs_in_a_scenario_take_their_tasks_from_the_rate(tmp_path: Path) -> None:
    # defaults.tasks applies to the bursts; an open-loop run's tasks are its arrivals.
    path = _write(
        tmp_path,
        "[defaults]\ntasks = 50\nhold = 0.01\n"
        '[[runs]]\nstrategy = "pool"\n'
        '[[runs]]\nstrategy = "pool"\nrate = 20\nduration = 3\narrivals = "fixed"\nseed = 4\n',
    )
    burst, open_loop = load_scenario(path).runs
    assert (burst.tasks, burst.rate) == (50, None)
    assert (open_loop.tasks, open_loop.rate, open_loop.duration) == (60, 20, 3)
    assert (open_loop.arrivals, open_loop.seed, open_loop.hold) == ("fixed", 4, 0.01)
