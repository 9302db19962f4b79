"""``--repeat N`` on ``dbkit run`` and ``dbkit scenario``, as a user runs them: N runs of each
name in the result, one row of medians (min-max) in the table, Ctrl-C keeping what finished."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dbkit.servers import EmbeddedServer
from tests.helpers import assert_one_line_error, dbkit, server_now, wait_until_busy

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/none"  # a refusal must come before connecting

SCENARIO = """description = "two pools, repeated"
[defaults]
tasks = 20
queries = 1
hold = 0.02
[[runs]]
strategy = "pool"
pool_size = 2
[[runs]]
strategy = "pool"
pool_size = 4
"""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(" {2,}", line)]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "pool", "--repeat", "0"], "repeat must be a whole number from 1 to 20 (got 0)"),
        (["run", "pool", "--repeat", "21"], "repeat must be a whole number from 1 to 20 (got 21)"),
        (["scenario", "pool", "--repeat", "-1"], "repeat must be a whole number from 1 to 20"),
        (["run", "pool", "--repeat", "x"], "Invalid value for '--repeat'"),
    ],
)
def test_a_bad_repeat_count_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    assert_one_line_error(dbkit(*args, "--dsn", UNREACHABLE), 2, needle)


def test_the_option_has_help() -> None:
    for command in ("run", "scenario"):
        proc = dbkit(command, "--help")
        assert proc.returncode == 0 and "--repeat" in proc.stdout and "median" in proc.stdout


def test_run_repeat_3_records_3_runs_and_the_table_shows_their_median_and_range(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "pool", "--tasks", "50", "--pool-size", "5", "--repeat", "3", "--json",
        "--hold", "0.02", "--dsn", pg.app_dsn, "--out", str(out), "--check", "errors==0",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc == json.loads(out.read_text())
    assert [r["name"] for r in doc["runs"]] == ["pool-5"] * 3
    assert all(r["ok"] == 50 and not r["interrupted"] for r in doc["runs"])
    assert len({r["application_name"] for r in doc["runs"]}) == 3  # each repeat its own run
    # --check judged the repeats once, by their median
    assert [(v["run"], v["value"], v["passed"]) for v in doc["checks"]] == [("pool-5", 0, True)]
    # the table (report prints what run printed): one row, its count, medians with a range
    shown = dbkit("report", str(out))
    assert shown.returncode == 0, shown.stderr
    header, _, row = [
        line for line in shown.stdout.splitlines() if line.startswith(("run ", "--", "pool-5"))
    ]
    assert _cells(header)[:3] == ["run", "runs", "tasks"]
    cells = _cells(row)
    assert cells[:4] == ["pool-5", "3", "50", "50"]
    wall = [r["wall_s"] for r in doc["runs"]]
    median = sorted(wall)[1]
    assert cells[5].startswith(f"{median:.3f}")
    if f"{min(wall):.3f}" != f"{max(wall):.3f}":
        assert cells[5] == f"{median:.3f} ({min(wall):.3f}-{max(wall):.3f})"
    assert "runs repeated: each figure is the median (min-max)" in shown.stdout


def test_scenario_repeat_2_runs_the_file_twice_in_rounds(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    path = tmp_path / "two.toml"
    path.write_text(SCENARIO)
    out = tmp_path / "s.json"
    proc = dbkit("scenario", str(path), "--repeat", "2", "--dsn", pg.app_dsn, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert [r["name"] for r in doc["runs"]] == ["pool-2", "pool-4", "pool-2", "pool-4"]
    assert proc.stdout.splitlines()[0] == "dbkit scenario two --repeat 2"
    rows = [_cells(line) for line in proc.stdout.splitlines() if line.startswith("pool-")]
    assert [row[:3] for row in rows] == [["pool-2", "2", "20"], ["pool-4", "2", "20"]]


def test_ctrl_c_mid_repeat_keeps_the_finished_repeat_and_the_one_in_progress(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    out = tmp_path / "cut.json"
    since = server_now(pg.admin_dsn)
    # each repeat about 5 s (100 waves of 8 x 0.05 s): long enough to be caught mid-run
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbkit", "run", "pool", "--tasks", "800", "--pool-size", "8",
         "--hold", "0.05", "--queries", "1", "--repeat", "3", "--dsn", pg.app_dsn,
         "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"}, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until_busy(pg.admin_dsn, 8, proc, since)  # the first repeat's pool
        second = server_now(pg.admin_dsn)
        wait_until_busy(pg.admin_dsn, 8, proc, second)  # a pool opened since: the second's
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    doc = json.loads(out.read_text())
    assert doc["interrupted"] is True
    runs = [(r["name"], r["interrupted"], r["ok"]) for r in doc["runs"]]
    assert runs[0] == ("pool-8", False, 800)
    assert runs[1][:2] == ("pool-8", True) and runs[1][2] < 800
    assert len(runs) == 2  # the third never started
    assert "INTERRUPTED" in stdout
