"""Result documents: the golden file, round trips, and never overwriting."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from dbkit.errors import ConfigError, ResultExistsError
from dbkit.results import (
    FORMAT,
    ErrorRecord,
    Result,
    Run,
    default_path,
    read_result,
    write_result,
)
from dbkit.stats import LatencySummary

GOLDEN = Path(__file__).parent.parent / "golden" / "result-v1.json"


def sample_result() -> Result:
    storm = Run(
        strategy="unbatched",
        name="unbatched",
        params={"queries": 3, "hold": 0.1, "sql": None, "connect_timeout": 60.0, "tasks": 200},
        tasks=200,
        ok=96,
        failed=104,
        queries_ok=288,
        wall_s=1.25,
        setup_s=0.004,
        ideal_s=0.3,
        latency_s=LatencySummary(p50=0.5, p90=0.9, p99=1.1, max=1.2),
        errors=(
            ErrorRecord(
                "asyncpg.exceptions.TooManyConnectionsError",
                "53300",
                104,
                0.05,
                0.8,
                "sorry, too many clients already",
            ),
        ),
        peak_server_connections=96,
        server_connections=((0.0, 0), (0.05, 96)),
    )
    pool = Run(
        strategy="pool",
        name="pool-20",
        params={"pool_size": 20, "min_size": 20, "acquire_timeout": None, "tasks": 200},
        tasks=200,
        ok=200,
        failed=0,
        queries_ok=600,
        wall_s=3.125,
        setup_s=0.1,
        ideal_s=3.0,
        latency_s=LatencySummary(p50=1.5, p90=2.75, p99=3.0, max=3.1),
        peak_server_connections=20,
    )
    meta = {
        "dbkit_version": "0.1.0",
        "started_at": "2026-11-24T16:00:00+00:00",
        "command": ["dbkit", "run", "pool", "--dsn", "postgresql://u:***@h/db"],
        "backend": "embedded",
        "server_version": "18.6",
        "max_connections": 100,
        "superuser_reserved_connections": 3,
    }
    return Result(metadata=meta, runs=(storm, pool))


def test_golden_file_guards_the_format() -> None:
    assert sample_result().dumps() == GOLDEN.read_text()
    data = json.loads(GOLDEN.read_text())
    assert data["format"] == FORMAT == "dbkit.result/1"
    run = data["runs"][1]
    for key in (
        "strategy", "params", "tasks", "ok", "failed", "wall_s", "throughput_qps", "ideal_s",
        "efficiency", "latency_s", "errors", "peak_server_connections",
    ):  # fmt: skip
        assert key in run
    assert run["throughput_qps"] == 600 / 3.125
    assert run["efficiency"] == 3.0 / 3.125
    assert data["runs"][0]["efficiency"] == pytest.approx(0.3 / 1.25 * 96 / 200)
    assert set(data["runs"][0]["errors"][0]) == {
        "type", "sqlstate", "count", "first_s", "last_s", "example",
    }  # fmt: skip


def test_round_trip(tmp_path: Path) -> None:
    result = sample_result()
    path = write_result(result, tmp_path / "r.json")
    again = read_result(path)
    assert again == result
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # readable by the team, not 0600
    assert again.runs[0].errors_by_sqlstate() == {"53300": 104}


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("precious")
    with pytest.raises(ResultExistsError, match="never overwrites"):
        write_result(sample_result(), path)
    assert path.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left


def test_default_path_never_reuses_a_name(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 24, 16, 0, 0, tzinfo=dt.UTC)
    first = default_path("scenario pool", tmp_path, now)
    assert first.name == "scenario-pool-20261124-160000.json"
    write_result(sample_result(), first)
    second = default_path("scenario pool", tmp_path, now)
    assert second != first and second.name.endswith("-2.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable JSON"),
        ('{"format": "other/9"}', "not a dbkit.result/1"),
        ('{"format": "dbkit.result/1", "metadata": {}}', "malformed"),
        ("[1, 2]", "not a dbkit.result/1"),
    ],
)
def test_bad_files_are_config_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        read_result(path)
