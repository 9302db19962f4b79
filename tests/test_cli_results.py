"""Result files through the real `dbkit` command: masking, destinations, hand-edited files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbkit.servers import EmbeddedServer
from tests.helpers import assert_one_line_error, dbkit

SQL = "SELECT 'password=abc'"


def _reads_back(path: Path) -> dict:  # type: ignore[type-arg]
    doc = json.loads(path.read_text())  # valid JSON, not just a file that was written
    shown = dbkit("report", str(path))
    assert shown.returncode == 0, shown.stderr
    return doc  # type: ignore[no-any-return]


def test_sql_that_mentions_a_password_is_kept_whole(pg: EmbeddedServer, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "pool", "--tasks", "5", "--pool-size", "2", "--sql", SQL, "--json",
        "--dsn", pg.app_dsn, "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == json.loads(out.read_text())
    doc = _reads_back(out)
    (run,) = doc["runs"]
    assert (run["ok"], run["params"]["sql"]) == (5, SQL)
    assert SQL in doc["metadata"]["command"]


def test_a_password_in_the_dsn_query_is_masked_and_the_file_reads_back(
    pg: EmbeddedServer, tmp_path: Path
) -> None:
    secret = "orange-query"
    dsn = f"postgresql://dbkit_app@127.0.0.1:{pg.port}/postgres?password={secret}&sslmode=disable"
    out = tmp_path / "r.json"
    proc = dbkit(
        "run", "pool", "--tasks", "5", "--pool-size", "2", "--json", "--dsn", dsn,
        "--out", str(out),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert secret not in text
    doc = _reads_back(out)
    assert doc["runs"][0]["ok"] == 5
    masked = dsn.replace(secret, "***")
    assert masked in doc["metadata"]["command"]


def test_a_malformed_dsn_is_not_echoed() -> None:
    proc = dbkit("run", "pool", "--dsn", "postgresql//app:orange@127.0.0.1:1/db")
    assert_one_line_error(proc, 2, "must start with postgresql://")
    assert "orange" not in proc.stderr


def test_out_says_why_it_cannot_be_written(tmp_path: Path) -> None:
    a_file = tmp_path / "afile"
    a_file.write_text("")
    a_dir = tmp_path / "adir"
    a_dir.mkdir()
    for out, needle in (
        (f"{a_file}/x.json", f"{a_file} is not a folder"),
        (f"{a_file}/deeper/x.json", f"{a_file} is not a folder"),
        ("/etc/passwd/x.json", "/etc/passwd is not a folder"),
        (f"{a_dir}/", f"{a_dir}/ names a folder"),
        (f"{tmp_path}/newdir/", "newdir/ names a folder"),  # not there yet: still no file
        (str(a_dir), f"{a_dir} is a folder"),
        ("", "no file name"),
    ):
        proc = dbkit("run", "sleep", "--tasks", "5", "--mode", "unbatched", "--out", out)
        assert_one_line_error(proc, 2, needle)
        assert "File exists" not in proc.stderr and "already exists" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]  # nothing written
    assert list(a_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("ok", -1, "runs[0].ok: expected an integer >= 0, got -1"),
        ("ok", 6, "runs[0].ok: 6 is more than tasks (5)"),
        ("strategy", "warp", "runs[0].strategy: expected one of"),
        ("wall_s", -2.0, "runs[0].wall_s: expected a number >= 0, got -2.0"),
        ("wall_s", float("nan"), "runs[0].wall_s: expected a finite number"),
    ],
)
def test_report_refuses_impossible_hand_edits(
    tmp_path: Path, field: str, value: object, needle: str
) -> None:
    good = tmp_path / "good.json"
    proc = dbkit("run", "sleep", "--tasks", "5", "--mode", "unbatched", "--out", str(good))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(good.read_text())
    doc["runs"][0][field] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))  # NaN is written as the bare word NaN, as an editor might
    shown = dbkit("report", str(bad))
    assert_one_line_error(shown, 2, f"{bad}: malformed")
    assert needle in shown.stderr
