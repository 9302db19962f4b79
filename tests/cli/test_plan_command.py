"""`dbkit plan`: its DSN may come from a file, as every other command's may; a deploy with a
[pooler] says which limit breaks first, and the exit code follows."""

from __future__ import annotations

import json
from pathlib import Path

from dbkit.servers import EmbeddedServer
from tests.helpers import assert_one_line_error, dbkit

SERVICE = "api:replicas=1,workers=2,pool_size=8"


def test_plan_reads_the_dsn_from_a_file(pg20: EmbeddedServer, tmp_path: Path) -> None:
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(f"# the admin DSN\n{pg20.admin_dsn}\n")
    proc = dbkit("plan", "--service", SERVICE, "--json", "--dsn-file", str(dsn_file))
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["max_connections"] == 20 and doc["superuser_reserved"] == 3
    assert doc["total_peak"] == 16
    assert proc.returncode == (0 if doc["fits"] else 1)


def test_plan_dsn_file_refusals_are_one_line_and_masked(tmp_path: Path) -> None:
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text("postgresql://app:orange@127.0.0.1:1/db\n")
    both = dbkit(
        "plan", "--service", SERVICE, "--dsn-file", str(dsn_file),
        "--dsn", "postgresql://b@127.0.0.1:1/y",
    )  # fmt: skip
    assert_one_line_error(both, 2, "two DSNs given")
    missing = dbkit("plan", "--service", SERVICE, "--dsn-file", str(tmp_path / "none"))
    assert_one_line_error(missing, 2, "cannot read the DSN file")
    unreachable = dbkit("plan", "--service", SERVICE, "--dsn-file", str(dsn_file))
    assert_one_line_error(unreachable, 1, "cannot connect to postgresql://app:***@127.0.0.1:1/db")
    for proc in (both, missing, unreachable):
        assert "orange" not in proc.stderr + proc.stdout


# --- a deploy with a [pooler] table: which limit breaks first, and the exit code -------------

DEPLOYS = Path(__file__).resolve().parents[2] / "scenarios" / "deploys"
POOLED = str(DEPLOYS / "pooled.toml")


def test_plan_with_a_pooler_that_fits_exits_0() -> None:
    proc = dbkit("plan", POOLED)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "at most 80 server connections" in lines[-4]
    assert lines[-3] == "clients: peak 180 of max_client_conn 500"
    assert lines[-1] == (
        "fits: 180 clients of max_client_conn 500, 80 server connections of 97 available"
    )


def test_plan_says_the_server_breaks_first_and_exits_1() -> None:
    proc = dbkit("plan", POOLED, "--max-connections", "60")
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-2].startswith("OVER: the server breaks first, at 58 clients")
    assert lines[-1].startswith("to fit: max_db_connections = 28 (the pooler at most 56)")
    doc = json.loads(dbkit("plan", POOLED, "--max-connections", "60", "--json").stdout)
    assert (doc["fits"], doc["breaks_first"], doc["over_by"]) == (False, "server", 23)
    assert doc["pooler"]["server_peak"] == 80 and doc["pooler"]["client_over_by"] == 0


def test_plan_says_max_client_conn_breaks_first_and_exits_1(tmp_path: Path) -> None:
    text = (
        (DEPLOYS / "pooled.toml")
        .read_text()
        .replace("max_client_conn = 500", "max_client_conn = 150")
    )
    path = tmp_path / "deploy.toml"
    path.write_text(text)
    proc = dbkit("plan", str(path), "--json")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["breaks_first"], doc["over_by"]) == ("client", 0)
    assert doc["pooler"]["client_over_by"] == 30
    text_out = dbkit("plan", str(path)).stdout.splitlines()
    assert text_out[-2].startswith("OVER: max_client_conn breaks first, at 151 clients: 180 > 150")


def test_plan_refuses_a_bad_pooler_key_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "deploy.toml"
    path.write_text((DEPLOYS / "pooled.toml").read_text().replace("users = 2", "users = 0"))
    assert_one_line_error(dbkit("plan", str(path)), 2, f"{path}: pooler.users = 0")


# --- plan --measured: the pool each service needs, from a fleet result ----------------------

MEASURED = str(Path(__file__).resolve().parents[1] / "golden" / "fleet-measured.json")
# The fleet that file measured, scaled up: api on 8 replicas now (the advice is per worker).
SCALED = ["--service", "api:replicas=8,workers=2,pool_size=6",
          "--service", "jobs:replicas=1,workers=1,pool_size=4,driver=sqlalchemy",
          "--max-connections", "100"]  # fmt: skip


def test_plan_measured_prints_the_advice_beside_the_budget_check() -> None:
    proc = dbkit("plan", *SCALED, "--measured", MEASURED)
    # 8 x 2 x 6 + 4 = 100 > 97: the exit code is the plan's, whatever the advice
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(line.startswith("OVER by 3: peak 100 > 97 available") for line in lines)
    # the file measured api on 2 workers: at most 4 active, p99 4.0, demand 3.83
    assert (
        "  api: pools hold 2 x 6 = 12, at most 4 active (p99 4.0), demand 3.8: a per-worker "
        "pool of 3 serves this load with 25% spare" in lines
    )
    change = lines[lines.index("change to the deploy file:") + 1 :]
    assert change == [
        "[services.api]",
        "pool_size = 3  # was 6: at most 4 active of 2 x 6",
        "[services.jobs]",
        "pool_size = 3  # was 4: at most 2 active of 4",
    ]
    roomy = dbkit("plan", *SCALED, "--measured", MEASURED, "--margin", "1", "--json")
    doc = json.loads(roomy.stdout)
    assert [(a["service"], a["advised"]) for a in doc["advice"]] == [("api", 4), ("jobs", 4)]
    assert doc["advice"][0]["toml"].splitlines()[1].startswith("pool_size = 4  # was 6")
    assert doc["total_peak"] == 100 and "advice" not in json.loads(
        dbkit("plan", *SCALED, "--json").stdout
    )


def test_plan_measured_refuses_what_is_not_a_fleet_result(tmp_path: Path) -> None:
    golden = str(Path(MEASURED).with_name("result-v1.json"))
    assert_one_line_error(
        dbkit("plan", *SCALED, "--measured", golden), 2, "not a fleet result (dbkit fleet"
    )
    missing = str(tmp_path / "none.json")
    assert_one_line_error(dbkit("plan", *SCALED, "--measured", missing), 2, "no such file")
    negative = dbkit("plan", *SCALED, "--measured", MEASURED, "--margin", "-1")
    assert_one_line_error(negative, 2, "--margin")
