"""The real `dbkit` command, run as a user would: exit codes, one-line errors, files, masking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dbkit.servers import EmbeddedServer
from tests.helpers import assert_one_line_error, dbkit
from tests.helpers import server_now as _server_now
from tests.helpers import wait_for_sessions as _wait_for_sessions
from tests.helpers import wait_until_busy as _wait_until_busy


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "pool", "--tasks", "0"], "tasks must be at least 1 (got 0)"),
        (["run", "pool", "--tasks", "-3"], "tasks must be at least 1 (got -3)"),
        (["run", "warp"], "unknown strategy 'warp'"),
        (["run", "pool", "--pool-size", "0"], "pool_size must be at least 1"),
        (["run", "pool", "--server", "dsn"], "--server dsn needs --dsn"),
        (["run", "pool", "--server", "moon"], "unknown server 'moon'"),
        (["run", "pool", "--loop", "trio"], "unknown event loop 'trio'"),
        (["run", "pool", "--dsn", "mysql://u:orange@h/d"], "must start with postgresql://"),
        (["scenario", "nope"], "no scenario 'nope'"),
        (["report", "/nonexistent/r.json"], "no such file"),
        (["run", "sleep", "--hold", "nan"], "hold = nan: must be a finite number"),
        (["run", "pool", "--retry", "1000"], "retries must be at most 100"),
        (["run", "pool", "--fault", "stop@inf"], "KIND@SECONDS"),
        (["run", "pool", "--max-connections", "0"], "max_connections must be at least 4"),
        (
            ["run", "pool", "--server", "embedded", "--dsn", "postgresql://u@127.0.0.1:1/d"],
            "--server embedded starts its own server",
        ),
        (["run", "sqlalchemy", "--pool-size", "0", "--max-overflow", "5"], "NullPool"),
        (["run", "pool", "--dsn", "postgresql://u:a@b@127.0.0.1:1/d"], "write it as %40"),
        (["fleet", "scenarios/deploys/fits.toml", "--duration", "inf"], "at most 86400"),
        (["sweep", "pool", "--param", "batch_size"], "pool does not use batch_size"),
        (["sweep", "pool", "--max-overflow", "3"], "pool does not use --max-overflow"),
        (["sweep", "pool", "--repeat", "0"], "repeat must be a whole number from 1 to 20"),
        (["run", "pool", "--limit", "4"], "pool does not use --limit"),
        (["run", "sleep", "--sql", "SELECT 1"], "sleep does not use --sql"),
        (["run", "pool", "--commit"], "commit applies to a custom sql statement"),
        (["run", "pool", "--bogus"], "No such option: --bogus"),
        (["run"], "Missing argument 'strategy'"),
        (["run", "pool", "--tasks", "x"], "Invalid value for '--tasks'"),
        (["warp"], "No such command 'warp'"),
        (["run", "pool", "--hold", "1e308"], "hold must be at most 3600"),
        (["run", "sleep", "--queries", "100000"], "queries must be at most 10,000"),
        (
            ["run", "sleep", "--mode", "unbatched", "--max-connections", "50"],
            "sleep has no server: it does not use --max-connections",
        ),
        (
            ["run", "sleep", "--dsn", "postgresql://u@127.0.0.1:1/d"],
            "sleep has no server: it does not use --dsn",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    proc = dbkit(*args)
    assert_one_line_error(proc, 2, needle)
    assert "orange" not in proc.stderr


def test_unreachable_dsn_is_one_line_exit_1_and_masked() -> None:
    proc = dbkit("run", "pool", "--dsn", "postgresql://app:orange@127.0.0.1:1/db")
    assert_one_line_error(proc, 1, "cannot connect to postgresql://app:***@127.0.0.1:1/db")
    assert "orange" not in proc.stderr


def test_pool_larger_than_the_server_allows_is_refused() -> None:
    proc = dbkit("run", "pool", "--pool-size", "150", "--server", "embedded")
    assert_one_line_error(proc, 2, "pool-150 may open 150 connections but the server allows 96")


@pytest.mark.parametrize(
    "args", [[], ["run"], ["scenario"], ["report"], ["server"], ["server", "up"]]
)
def test_every_command_has_help(args: list[str]) -> None:
    proc = dbkit(*args, "--help")
    assert proc.returncode == 0
    assert "Usage" in proc.stdout and proc.stdout.count("--help") >= 1


def test_run_writes_a_result_prints_json_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    args = ["run", "pool", "--tasks", "30", "--pool-size", "5", "--hold", "0.01", "--out", str(out)]
    proc = dbkit(*args, "--server", "embedded", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # nothing but the document on stdout
    assert doc == json.loads(out.read_text())
    assert doc["format"] == "dbkit.result/1"
    assert doc["metadata"]["backend"] == "embedded"
    assert doc["metadata"]["max_connections"] == 100
    run = doc["runs"][0]
    assert (run["strategy"], run["ok"], run["failed"], run["errors"]) == ("pool", 30, 0, [])
    assert 1 <= run["peak_server_connections"] <= 5

    again = dbkit(*args, "--server", "embedded")
    assert_one_line_error(again, 2, "already exists")
    assert json.loads(out.read_text()) == doc

    shown = dbkit("report", str(out))
    assert shown.returncode == 0
    assert "pool-5" in shown.stdout and "max_connections 100" in shown.stdout


def test_password_never_shows(pg: EmbeddedServer, tmp_path: Path) -> None:
    # The embedded server trusts local connections, so any password is accepted; it must still
    # never appear in output or in the result file.
    secret = "orange"
    dsn = f"postgresql://dbkit_app:{secret}@127.0.0.1:{pg.port}/postgres?sslmode=disable"
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "unbatched", "--tasks", "5", "--hold", "0.01", "--out", str(out),
        "--dsn", dsn,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "dsn" in json.loads(out.read_text())["metadata"]["backend"]
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert secret not in text
    via_env = dbkit("run", "unbatched", "--tasks", "3", "--hold", "0.01", "--json",
                    "--results-dir", str(tmp_path), env={"DBKIT_DSN": dsn})  # fmt: skip
    assert via_env.returncode == 0, via_env.stderr
    assert secret not in via_env.stdout + via_env.stderr
    assert json.loads(via_env.stdout)["runs"][0]["ok"] == 3


def test_sleep_runs_without_a_server(tmp_path: Path) -> None:
    proc = dbkit("run", "sleep", "--tasks", "100", "--hold", "0.01", "--results-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "sleep-unbatched" in proc.stdout and "sleep-batched" in proc.stdout
    assert "server:" not in proc.stderr
    assert len(list(tmp_path.glob("run-sleep-*.json"))) == 1


def test_plan_gates_with_exit_codes() -> None:
    fits = dbkit("plan", "scenarios/deploys/fits.toml")
    assert fits.returncode == 0, fits.stderr
    assert "fits: 90 of 97 available" in fits.stdout
    over = dbkit("plan", "scenarios/deploys/overcommitted.toml")
    assert over.returncode == 1
    assert "OVER by 83" in over.stdout
    incident = dbkit(
        "plan", "--service", "api:replicas=12,workers=5,pool_size=20", "--max-connections", "100",
        "--json",
    )  # fmt: skip
    assert incident.returncode == 1
    doc = json.loads(incident.stdout)
    assert (doc["total_peak"], doc["budget"], doc["fits"]) == (1200, 97, False)
    assert doc["max_pool_per_worker"] == 1
    assert [s["peak"] for s in doc["services"]] == [1200]
    surge = dbkit("plan", "scenarios/deploys/fits.toml", "--scale-to", "2")
    assert surge.returncode == 1 and "surge to 2 replicas" in surge.stdout
    assert_one_line_error(dbkit("plan", "--service", "api:replicas=x"), 2, "replicas = 'x'")
    assert_one_line_error(dbkit("plan"), 2, "no services")


def test_plan_reads_the_budget_from_a_live_server(pg20: EmbeddedServer) -> None:
    proc = dbkit(
        "plan", "--service", "api:replicas=1,workers=2,pool_size=8", "--json",
        "--dsn", pg20.admin_dsn,
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert doc["max_connections"] == 20 and doc["superuser_reserved"] == 3
    assert doc["budget"] == 17 - doc["in_use"]
    assert proc.returncode == (0 if doc["fits"] else 1)
    assert doc["total_peak"] == 16
    too_big = dbkit(
        "plan", "--service", "api:replicas=1,workers=2,pool_size=9", "--dsn", pg20.admin_dsn
    )
    assert too_big.returncode == 1


def test_fleet_exit_codes_follow_the_outcome(tmp_path: Path) -> None:
    clean = dbkit(
        "fleet", "--service", "api:replicas=2,workers=2,pool_size=5", "--duration", "1.5",
        "--server", "embedded", "--max-connections", "30", "--json", "--results-dir",
        str(tmp_path),
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    doc = json.loads(clean.stdout)
    assert doc["fleet"]["failed"] == 0 and doc["fleet"]["peak_server_connections"] <= 20
    # Two pools of 20 against 27 slots: however their opens interleave, one cannot fill.
    over = dbkit(
        "fleet", "--service", "api:replicas=1,workers=2,pool_size=20", "--duration", "1.5",
        "--server", "embedded", "--max-connections", "30", "--results-dir", str(tmp_path),
    )  # fmt: skip
    assert over.returncode == 1, over.stderr
    assert "FAILED: first failure in service api" in over.stdout and "53300" in over.stdout
    assert_one_line_error(dbkit("fleet"), 2, "no services")


def test_an_unwritable_destination_is_refused_before_the_run(tmp_path: Path) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    for args in (
        ["--out", str(in_the_way / "r.json")],
        ["--results-dir", str(in_the_way)],
        ["--out", "/proc/r.json"],
    ):
        proc = dbkit("run", "sleep", "--tasks", "10", "--mode", "unbatched", *args)
        assert_one_line_error(proc, 2, "cannot write ")
    result = tmp_path / "r.json"
    assert dbkit("run", "sleep", "--tasks", "5", "--mode", "unbatched", "--out", str(result))
    for option, target in (("--csv", "/proc/r.csv"), ("--plot", "/proc/r.png")):
        assert_one_line_error(dbkit("report", str(result), option, target), 2, target)
    assert_one_line_error(dbkit("report", str(result), "--csv", str(result)), 2, "already exists")


def test_runs_finishing_together_each_keep_their_result(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "dbkit", "run", "sleep", "--tasks", "10", "--mode", "unbatched"]
    procs = [
        subprocess.Popen([*args, "--results-dir", str(tmp_path)], stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    codes = [proc.wait(timeout=120) for proc in procs]
    for proc in procs:
        assert proc.stderr is not None
        proc.stderr.close()
    assert codes == [0, 0, 0, 0]
    assert len(list(tmp_path.glob("*.json"))) == 4


def test_a_result_that_cannot_be_written_is_rescued(tmp_path: Path) -> None:
    from dbkit.store.results import keep_result, read_result

    kept = tmp_path / "kept.json"
    assert dbkit("run", "sleep", "--tasks", "5", "--mode", "unbatched", "--out", str(kept))
    result = read_result(kept)
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    path, problem = keep_result(result, in_the_way / "r.json", "run-sleep", None)
    try:
        assert problem is not None and problem.startswith(f"cannot write {in_the_way}/r.json")
        assert str(path) in problem and read_result(path).runs == result.runs
    finally:
        path.unlink()
    # an auto-named result whose name was taken meanwhile takes the next free one
    path, problem = keep_result(result, kept, "kept", tmp_path)
    assert problem is None and path != kept and path.parent == tmp_path


def test_a_run_where_nothing_succeeds_exits_1_and_keeps_its_result(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "pool", "--tasks", "20", "--sql", "SELEC bad", "--dsn", pg.app_dsn,
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "no task succeeded in pool-10" in proc.stderr.splitlines()[-1]
    assert "Resetting connection" not in proc.stderr  # each failed transaction rolled back
    (run,) = json.loads(out.read_text())["runs"]
    assert run["failed"] == 20 and run["errors"][0]["sqlstate"] == "42601"


def _start_run(out: Path, dsn: str, *extra: str) -> subprocess.Popen[str]:
    """A long pool run against ``dsn`` in its own process group, as a shell starts a job."""
    return subprocess.Popen(
        [sys.executable, "-m", "dbkit", "run", "pool", "--tasks", "2000", "--pool-size", "8",
         "--hold", "0.2", "--queries", "1", "--dsn", dsn, "--out", str(out), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip


def _kept_interrupted(proc: subprocess.Popen[str], out: Path) -> tuple[dict[str, Any], str]:
    """The interrupted command's exit (130, no traceback) and its one run, kept in ``out`` and
    marked interrupted; returns that run and the command's stdout."""
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    (run,) = doc["runs"]
    return run, stdout


@pytest.mark.parametrize(
    ("how", "gap"), [("twice", 0.05), ("twice", 0.01), ("timeout", 0.0), ("until-exit", 0.002)]
)
def test_a_second_interrupt_keeps_the_partial_result(
    pg: EmbeddedServer, tmp_path: Path, how: str, gap: float
) -> None:
    import signal
    import time

    out = tmp_path / "partial.json"
    since = _server_now(pg.admin_dsn)
    proc = _start_run(out, pg.app_dsn)
    _wait_until_busy(pg.admin_dsn, 8, proc, since)
    if how == "twice":  # Ctrl-C pressed twice, the second at once
        proc.send_signal(signal.SIGINT)
        time.sleep(gap)  # not a race: any gap up to the end of the run must keep the result
        proc.send_signal(signal.SIGINT)
    elif how == "timeout":  # what `timeout -s INT` does: to the process, then to its group
        proc.send_signal(signal.SIGINT)
        os.killpg(proc.pid, signal.SIGINT)
    else:  # Ctrl-C held down: signals keep coming while the kit keeps the result and exits
        for _ in range(5000):  # bounded: at most 5000 x 2 ms
            if proc.poll() is not None:
                break
            proc.send_signal(signal.SIGINT)
            time.sleep(gap)
    run, stdout = _kept_interrupted(proc, out)
    assert run["interrupted"] is True and run["ok"] + run["failed"] < 2000
    assert "INTERRUPTED" in stdout


@pytest.mark.parametrize("signals", ["group", "held"])
def test_a_second_interrupt_mid_fleet_keeps_what_was_measured(
    pg: EmbeddedServer, tmp_path: Path, signals: str
) -> None:
    import signal
    import time

    out = tmp_path / "fleet.json"
    since = _server_now(pg.admin_dsn)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbkit", "fleet", "--service",
         "api:replicas=1,workers=2,pool_size=4", "--duration", "60", "--dsn", pg.app_dsn,
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip
    _wait_until_busy(pg.admin_dsn, 8, proc, since)
    _wait_until_next_queries(pg.admin_dsn, 8, proc)  # so the first requests are done: ok > 0
    if signals == "group":
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # the second, to the group, as `timeout -s INT` does
    else:
        _interrupt(proc, signals)
    run, _ = _kept_interrupted(proc, out)
    assert run["interrupted"] is True and run["ok"] > 0


def test_version() -> None:
    proc = dbkit("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("dbkit 0.")


def test_messages_are_never_wrapped_when_piped(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "r.json"
    deep.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    proc = subprocess.run(
        [sys.executable, "-m", "dbkit", "run", "sleep", "--tasks", "5", "--mode", "unbatched",
         "--out", str(deep)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"result: {deep} (" in proc.stderr


def test_plan_exits_1_for_a_pool_larger_than_the_server_in_a_file_as_with_options(
    tmp_path: Path,
) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text(
        "[database]\nmax_connections = 100\n[services.api]\nreplicas = 1\nworkers = 1\n"
        'pool_size = 90\nmax_overflow = 20\ndriver = "sqlalchemy"\n'
    )
    from_file = dbkit("plan", str(path))
    from_options = dbkit(
        "plan", "--service", "api:replicas=1,workers=1,pool_size=90,max_overflow=20,"
        "driver=sqlalchemy", "--max-connections", "100",
    )  # fmt: skip
    assert (from_file.returncode, from_options.returncode) == (1, 1), from_file.stderr
    assert from_file.stdout == from_options.stdout
    assert "pool_size + max_overflow that fits: 97 (api: pool_size 77" in from_file.stdout
    assert dbkit("plan", str(path), "--max-connections", "200").returncode == 0


def _wait_until_next_queries(admin_dsn: str, size: int, proc: subprocess.Popen[str]) -> None:
    """Until ``size`` workload sessions run a statement that started after now: each ran one
    before, so that many tasks (one statement each) have completed."""
    _wait_for_sessions(admin_dsn, size, proc, "query_start", _server_now(admin_dsn))


def _interrupt(proc: subprocess.Popen[str], signals: int | str) -> None:
    """Ctrl-C ``signals`` times 50 ms apart, or ("held") every 2 ms until the command exits, as
    a key held down: the signals keep coming while the kit stops its processes and its monitor
    and keeps the result."""
    import signal
    import time

    if signals == "held":
        for _ in range(5000):  # bounded: at most 5000 x 2 ms
            if proc.poll() is not None:
                return
            proc.send_signal(signal.SIGINT)
            time.sleep(0.002)
        return
    for _ in range(int(signals)):
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)


@pytest.mark.parametrize("signals", [1, 2, "held"])
def test_ctrl_c_mid_procs_run_keeps_what_every_process_measured(
    pg: EmbeddedServer, tmp_path: Path, signals: int | str
) -> None:
    out = tmp_path / "procs.json"
    since = _server_now(pg.admin_dsn)
    proc = _start_run(out, pg.app_dsn, "--procs", "2")  # two pools of 4 (8 in all)
    _wait_until_busy(pg.admin_dsn, 8, proc, since)
    _wait_until_next_queries(pg.admin_dsn, 8, proc)  # so the first tasks are done: ok > 0
    _interrupt(proc, signals)
    run, stdout = _kept_interrupted(proc, out)
    assert run["interrupted"] is True
    assert run["ok"] > 0 and run["ok"] + run["failed"] < 2000
    assert "INTERRUPTED" in stdout


def test_a_dsn_is_given_once_and_without_a_limit_it_cannot_set(tmp_path: Path) -> None:
    # Two DSNs would leave one silently unused; --max-connections cannot change a DSN's server.
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text("postgresql://a@127.0.0.1:1/x\n")
    dsn = "postgresql://b@127.0.0.1:1/y"
    both = dbkit("run", "pool", "--tasks", "3", "--dsn", dsn, "--dsn-file", str(dsn_file))
    assert_one_line_error(both, 2, "two DSNs given")
    limit = dbkit("run", "pool", "--tasks", "3", "--dsn", dsn, "--max-connections", "30")
    assert_one_line_error(limit, 2, "--max-connections sets the limit of a server dbkit starts")


def test_plan_takes_a_managed_database_preset() -> None:
    api = "api:replicas=4,workers=2,pool_size=10"
    fits = dbkit("plan", "--preset", "aws-rds:db.t3.micro", "--service", api)
    assert fits.returncode == 0, fits.stderr
    assert "budget: 95 max_connections - 3 superuser_reserved" in fits.stdout
    over = dbkit("plan", "--preset", "azure:B1ms", "--service", api)
    assert over.returncode == 1 and "OVER by 45" in over.stdout  # 80 > 50 - 15
    given = dbkit("plan", "--preset", "azure:B1ms", "--max-connections", "200", "--service", api)
    assert given.returncode == 0 and "budget: 200 max_connections - 15" in given.stdout
    listed = dbkit("plan", "--list-presets")
    assert listed.returncode == 0, listed.stderr
    assert "neon:0.25" in listed.stdout and "(checked 2026-12-01)" in listed.stdout
    assert_one_line_error(
        dbkit("plan", "--preset", "azure:B3", "--service", api), 2, "unknown size 'B3' for azure"
    )
