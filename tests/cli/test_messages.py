"""Messages that stand on their own: what an option means, what failed, whatever stdout holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbkit.servers import EmbeddedServer
from tests.helpers import assert_one_line_error, dbkit

DSN = "postgresql://u@127.0.0.1:1/d"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--dsn", DSN], {}),
        (["--dsn", DSN, "--server", "auto"], {}),
        (["--server", "dsn", "--dsn", DSN], {}),
        ([], {"DBKIT_DSN": DSN}),
    ],
)
def test_image_with_a_dsn_says_it_means_nothing_there(args: list[str], env: dict[str, str]) -> None:
    proc = dbkit("run", "pool", "--tasks", "3", "--image", "postgres:15-alpine", *args, env=env)
    assert_one_line_error(proc, 2, "--image picks the docker server's image")
    assert "means nothing with a DSN" in proc.stderr
    assert "--server docker" not in proc.stderr and "or auto" not in proc.stderr


def test_image_with_the_embedded_server_points_at_docker() -> None:
    proc = dbkit("run", "pool", "--tasks", "3", "--image", "postgres:15", "--server", "embedded")
    assert_one_line_error(proc, 2, "--image picks the docker server's image")
    assert "--server docker" in proc.stderr


@pytest.mark.parametrize("as_json", [True, False])
def test_a_run_where_nothing_succeeds_says_why_on_its_own(
    pg: EmbeddedServer, tmp_path: Path, as_json: bool
) -> None:
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "pool", "--tasks", "20", "--sql", "SELEC bad", "--dsn", pg.app_dsn,
        "--out", str(out), *(["--json"] if as_json else []),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    if as_json:
        assert json.loads(proc.stdout)["runs"][0]["failed"] == 20
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("dbkit: error: no task succeeded in pool-10")
    # the message names what failed and where the result is: nothing "above" is needed
    assert "above" not in proc.stderr
    assert "42601 x20" in last and str(out) in last


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "pool", "--tasks", "5", "--rate", "10", "--duration", "1"], "--tasks does not"),
        (["run", "pool", "--rate", "10"], "needs rate and duration together: give duration"),
        (["run", "pool", "--rate", "0", "--duration", "1"], "rate must be above 0"),
        (["run", "pool", "--rate", "1e9", "--duration", "1"], "at most 10,000,000 arrivals"),
        (["run", "sleep", "--arrivals", "fixed"], "arrivals applies to an open-loop run"),
        (["sweep", "unbatched", "--rate", "10", "--duration", "1"], "nothing to sweep at a rate"),
        (
            ["sweep", "pool", "--param", "tasks", "--rate", "10", "--duration", "1"],
            "cannot vary tasks",
        ),
    ],
)
def test_open_loop_options_refused_before_anything_runs(args: list[str], needle: str) -> None:
    assert_one_line_error(dbkit(*args), 2, needle)
