"""Result documents: the golden file, round trips, and never overwriting."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import random
from pathlib import Path

import pytest

from dbkit.model.dsn import mask_secrets
from dbkit.model.errors import ConfigError, ResultExistsError
from dbkit.model.faults import FaultRecord
from dbkit.model.keys import json_keys
from dbkit.model.records import ErrorRecord
from dbkit.model.results import FORMAT, Run, SweepSection
from dbkit.model.shape import ERROR_SHAPE, FAULT_SHAPE, RUN_SHAPE, SWEEP_SHAPE
from dbkit.model.stats import LatencySummary
from dbkit.store.results import default_path, read_result, write_result
from tests.helpers import GOLDEN, sample_result


def test_golden_file_guards_the_format() -> None:
    assert sample_result().dumps() == GOLDEN.read_text()
    data = json.loads(GOLDEN.read_text())
    assert data["format"] == FORMAT == "dbkit.result/1"
    run = data["runs"][1]
    for key in (
        "strategy", "params", "tasks", "ok", "failed", "wall_s", "throughput_qps", "ideal_s",
        "efficiency", "latency_s", "wait_s", "service_s", "errors", "peak_server_connections",
    ):  # fmt: skip
        assert key in run
    assert run["throughput_qps"] == 600 / 3.125
    assert run["efficiency"] == 3.0 / 3.125
    assert data["runs"][0]["efficiency"] == pytest.approx(0.3 / 1.25 * 96 / 200)
    assert set(data["runs"][0]["errors"][0]) == {
        "type", "sqlstate", "count", "first_s", "last_s", "example", "tasks",
    }  # fmt: skip


def test_files_without_wait_and_service_read_back_with_them_unknown(tmp_path: Path) -> None:
    data = json.loads(GOLDEN.read_text())
    for run in data["runs"]:
        del run["wait_s"], run["service_s"]  # as written before latency had its two parts
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    old = read_result(path)
    assert old.runs[1].latency_s == sample_result().runs[1].latency_s
    assert old.runs[1].wait_s == old.runs[1].service_s == LatencySummary()


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


def _golden_with(change: str, value: object) -> dict[str, object]:
    """The golden document with one field (``runs.0.ok``) set to ``value`` (or removed)."""
    data = json.loads(GOLDEN.read_text())
    *parents, last = change.split(".")
    target = data
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is REMOVE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return data


REMOVE = object()
# A run's fault and a sweep as the kit has written them (engine/run.py and engine/sweep.py).
FAULT = {
    "kind": "restart", "at_s": 1.5, "action_s": 0.25, "recovery_s": 0.75, "failed": 12,
    "errors_by_sqlstate": {"57P01": 10, "TimeoutError": 2}, "terminated": None,
}  # fmt: skip
SWEEP = {
    "param": "pool_size", "values": [2, 4, 8], "repeat": 2, "tolerance": 0.0625,
    "knee": {
        "pool_size": 4, "value": 4, "throughput_qps": 950.0, "best_value": 8,
        "best_throughput_qps": 1000.0, "tolerance": 0.0625, "noise": 0.0625,
    },
}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "value", "problem"),
    [
        ("runs.0.ok", "lots", "runs[0].ok: expected an integer, got 'lots'"),
        ("runs.1.failed", True, "runs[1].failed: expected an integer, got True"),
        ("runs.0.tasks", 1.5, "runs[0].tasks: expected an integer, got 1.5"),
        ("runs.0.wall_s", "3", "runs[0].wall_s: expected a number, got '3'"),
        ("runs.0.wall_s", None, "runs[0].wall_s: expected a number, got None"),
        ("runs.0.ideal_s", "0.3", "runs[0].ideal_s: expected a number or null, got '0.3'"),
        ("runs.1.latency_s.p99", "slow", "runs[1].latency_s.p99: expected a number or null"),
        ("runs.1.latency_s.p75", 1.0, "runs[1].latency_s.p75: unexpected key"),
        ("runs.0.errors", {}, "runs[0].errors: expected a list, got {}"),
        ("runs.0.errors.0", "53300", "runs[0].errors[0]: expected an object, got '53300'"),
        ("runs.0.errors.0.count", "104", "runs[0].errors[0].count: expected an integer"),
        ("runs.0.errors.0.sqlstate", 53300, "runs[0].errors[0].sqlstate: expected a string or"),
        ("runs.0.errors.0.example", REMOVE, "runs[0].errors[0].example: missing"),
        ("runs.0.server_connections.1", [0.05], "runs[0].server_connections[1]: expected a pair"),
        ("runs.0.faults", [{"kind": "restart"}], "runs[0].faults[0].at_s: missing"),
        ("runs.1.params", [], "runs[1].params: expected an object, got []"),
        ("runs.1.name", REMOVE, "runs[1].name: missing"),
        ("runs", {}, "runs: expected a list, got {}"),
        ("metadata.max_connections", "100", "metadata.max_connections: expected an integer or"),
        ("interrupted", "no", "interrupted: expected true or false, got 'no'"),
        ("sweep", {"param": "pool_size", "tolerance": 0.05, "knee": {"value": "4"}}, "sweep.knee"),
        ("fleet", {"budget": 97}, "fleet.max_connections: missing"),
        ("runs.0.faults", [FAULT | {"terminated": "2"}], "runs[0].faults[0].terminated:"),
        ("sweep", SWEEP | {"values": ["2"]}, "sweep.values[0]: expected an integer, got '2'"),
    ],
)
def test_wrongly_typed_fields_are_named(
    tmp_path: Path, change: str, value: object, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_golden_with(change, value)))
    with pytest.raises(ConfigError) as err:
        read_result(path)
    assert str(err.value).startswith(f"{path}: malformed dbkit.result/1 document ({problem}")


def test_the_qa_document_gets_the_exact_message(tmp_path: Path) -> None:
    path = tmp_path / "lots.json"
    path.write_text(json.dumps(_golden_with("runs.0.ok", "lots")))
    with pytest.raises(ConfigError) as err:
        read_result(path)
    assert str(err.value) == (
        f"{path}: malformed dbkit.result/1 document (runs[0].ok: expected an integer, got 'lots')"
    )


def test_a_document_without_runs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text(json.dumps(_golden_with("runs", [])))
    with pytest.raises(ConfigError, match=r"empty.json: no runs to report \(runs is \[\]\)"):
        read_result(path)
    data = _golden_with("runs", [])
    data["interrupted"] = True
    path.unlink()
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="interrupted before any run finished"):
        read_result(path)


def test_older_documents_without_the_optional_run_fields_still_read(tmp_path: Path) -> None:
    data = json.loads(GOLDEN.read_text())
    for run in data["runs"]:
        for key in ("server_connections", "retries", "faults", "interrupted"):
            del run[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    assert [run.name for run in read_result(path).runs] == ["unbatched", "pool-20"]


@pytest.mark.parametrize(
    ("change", "value", "problem"),
    [
        ("runs.0.ok", -1, "runs[0].ok: expected an integer >= 0, got -1"),
        ("runs.0.ok", 201, "runs[0].ok: 201 is more than tasks (200)"),
        ("runs.0.failed", 105, "runs[0].failed: ok + failed (201) is more than tasks (200)"),
        ("runs.0.tasks", -200, "runs[0].tasks: expected an integer >= 0, got -200"),
        ("runs.0.strategy", "warp", "runs[0].strategy: expected one of sleep, unbatched"),
        ("runs.0.wall_s", -1.25, "runs[0].wall_s: expected a number >= 0, got -1.25"),
        ("runs.0.wall_s", float("nan"), "runs[0].wall_s: expected a finite number, got nan"),
        ("runs.0.ideal_s", float("inf"), "runs[0].ideal_s: expected a finite number or null"),
        ("runs.1.latency_s.p99", -3.0, "runs[1].latency_s.p99: expected a number >= 0 or null"),
        ("runs.0.errors.0.count", -104, "runs[0].errors[0].count: expected an integer >= 0"),
        ("runs.0.peak_server_connections", -1, "runs[0].peak_server_connections: expected an"),
        ("runs.0.server_connections.1", [0.05, -96], "runs[0].server_connections[1][1]: expected"),
        ("runs.0.queries_ok", -3, "runs[0].queries_ok: expected an integer >= 0, got -3"),
        ("metadata.max_connections", -100, "metadata.max_connections: expected an integer >= 0"),
    ],
)
def test_impossible_values_are_named(
    tmp_path: Path, change: str, value: object, problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_golden_with(change, value)))  # nan and inf as NaN, Infinity
    with pytest.raises(ConfigError) as err:
        read_result(path)
    assert str(err.value).startswith(f"{path}: malformed dbkit.result/1 document ({problem}")


# Text a user, a server or a shell may put into a result: quotes, escapes, control characters,
# the word password next to = and quotes, URLs, non-ASCII and lone surrogates.
PIECES = (
    'password', "=", " = ", '"', "'", "\\", ",", ":", "@", "/", "?", "&", "#", "%40", "postgresql://",
    "u:", "@h/d", "?password=", "\n", "\t", "\x00", "\x1f", "\u2028", "é", "\ud800", "}", "]",
    "***", "abc", " ", "SELECT ",
)  # fmt: skip


def _hostile_strings(n: int, seed: int = 8) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(PIECES, k=rng.randint(0, 12))) for _ in range(n)]


def test_any_string_in_the_data_survives_dumps_as_valid_json(tmp_path: Path) -> None:
    base = sample_result()
    for i, text in enumerate(_hostile_strings(400)):
        storm, pool = base.runs
        error = dataclasses.replace(storm.errors[0], example=text)
        result = dataclasses.replace(
            base,
            metadata={**base.metadata, "command": ["dbkit", "run", "--sql", text]},
            runs=(
                dataclasses.replace(storm, params={**storm.params, "sql": text}, errors=(error,)),
                dataclasses.replace(pool, name=text),
            ),
        )
        doc = json.loads(result.dumps())  # valid JSON, whatever the text
        shown = mask_secrets(text)
        assert doc["runs"][0]["params"]["sql"] == shown
        assert doc["metadata"]["command"][3] == shown
        assert doc["runs"][1]["name"] == shown
        if "://" not in text:
            assert shown == text  # nothing but a DSN's password is ever changed
        if i % 40 == 0:  # and the reader takes back what the writer wrote
            again = read_result(write_result(result, tmp_path / f"r{i}.json"))
            assert again.runs[0].params["sql"] == shown


def test_dsn_passwords_are_masked_in_the_data_and_sql_is_not() -> None:
    base = sample_result()
    command = [
        "dbkit", "run", "pool", "--sql", "SELECT 'password=abc'",
        "--dsn", "postgresql://u:orange@h/d?password=lemon&sslmode=disable",
    ]  # fmt: skip
    text = dataclasses.replace(base, metadata={**base.metadata, "command": command}).dumps()
    assert "orange" not in text and "lemon" not in text
    assert json.loads(text)["metadata"]["command"][4:] == [
        "SELECT 'password=abc'",
        "--dsn",
        "postgresql://u:***@h/d?password=***&sslmode=disable",
    ]


def test_a_password_spelled_like_the_kit_s_words_still_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dbkit.model import dsn

    monkeypatch.setattr(dsn, "_SECRETS", {"pool", "dbkit", "unbatched"})
    again = read_result(write_result(sample_result(), tmp_path / "r.json"))
    assert [run.strategy for run in again.runs] == ["unbatched", "pool"]
    assert again.metadata["command"][:3] == ["***", "run", "***"]  # masked wherever else


def test_error_records_from_before_tasks_read_back_with_tasks_equal_to_count(
    tmp_path: Path,
) -> None:
    data = json.loads(GOLDEN.read_text())
    for run in data["runs"]:
        for error in run["errors"]:
            del error["tasks"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data))
    result = read_result(old)
    storm = result.runs[0]
    assert storm.errors and all(e.tasks is None for e in storm.errors)
    assert [e.tasks_ended for e in storm.errors] == [e.count for e in storm.errors]


def test_a_run_through_a_pooler_round_trips_and_one_without_has_no_pooler_key(
    tmp_path: Path,
) -> None:
    from dbkit.model.pooler import PoolerSection

    base = sample_result()
    section = PoolerSection(
        "pgbouncer", "transaction", ((0.0, 3, 1, 2, 0, 0.5), (0.05, 4, 0, 3, 1, 0.0))
    )
    pooled = dataclasses.replace(base.runs[0], pooler=section)
    meta = {**base.metadata, "pooler": {"kind": "pgbouncer", "version": "1.18.0",
                                        "settings": {"pool_mode": "transaction"}}}  # fmt: skip
    result = dataclasses.replace(base, metadata=meta, runs=(pooled, base.runs[1]))
    path = tmp_path / "r.json"
    write_result(result, path)
    data = json.loads(path.read_text())
    assert data["runs"][0]["pooler"]["peaks"] == {
        "cl_active": 4, "cl_waiting": 1, "sv_active": 3, "sv_idle": 1, "maxwait_s": 0.5
    }  # fmt: skip
    assert "pooler" not in data["runs"][1]
    back = read_result(path)
    assert back.runs[0].pooler == section and back.runs[1].pooler is None
    assert back.metadata["pooler"]["version"] == "1.18.0"
    data["runs"][0]["pooler"]["samples"][0]["cl_waiting"] = -1
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"runs\[0\]\.pooler\.samples\[0\]\.cl_waiting"):
        read_result(path)


def test_sweep_and_faults_read_into_records_and_write_back_the_same_json(tmp_path: Path) -> None:
    data = json.loads(GOLDEN.read_text())
    data["runs"][0]["faults"] = [FAULT]
    no_knee = {**SWEEP["knee"], "pool_size": None, "value": None, "throughput_qps": None}
    for sweep in (SWEEP, {**SWEEP, "knee": None}, {**SWEEP, "knee": no_knee}):
        path = tmp_path / f"{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps({**data, "sweep": sweep}))
        result = read_result(path)
        assert isinstance(result.runs[0].faults[0], FaultRecord)
        assert result.sweep is not None and result.sweep.values == (2, 4, 8)
        assert json.dumps(result.to_dict()) == json.dumps({**data, "sweep": sweep})
    assert result.runs[0].faults[0].errors_by_sqlstate == {"57P01": 10, "TimeoutError": 2}


def test_sweeps_and_faults_from_older_files_still_read(tmp_path: Path) -> None:
    # before --repeat: no repeat, a knee without tolerance and noise; faults before recovery
    # and termination were recorded
    data = json.loads(GOLDEN.read_text())
    data["runs"][0]["faults"] = [{"kind": "stop", "at_s": 1.0, "action_s": 0.5, "failed": 3}]
    knee = {"pool_size": 4, "value": 4, "throughput_qps": 950.0, "best_value": 8,
            "best_throughput_qps": 1000.0}  # fmt: skip
    data["sweep"] = {"param": "pool_size", "values": [2, 4, 8], "tolerance": 0.05, "knee": knee}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    result = read_result(path)
    (fault,) = result.runs[0].faults
    assert (fault.kind, fault.recovery_s, fault.errors_by_sqlstate, fault.terminated) == (
        "stop", None, {}, None,
    )  # fmt: skip
    assert result.sweep is not None and result.sweep.repeat == 1
    assert result.sweep.knee is not None and (result.sweep.knee.value, result.sweep.knee.noise) == (
        4, None,
    )  # fmt: skip


def test_the_reader_checks_the_keys_the_records_read() -> None:
    # one list of keys: the record's fields are the shape's keys
    records = (
        (Run, RUN_SHAPE), (ErrorRecord, ERROR_SHAPE), (FaultRecord, FAULT_SHAPE),
        (SweepSection, SWEEP_SHAPE),
    )  # fmt: skip
    for record, shape in records:
        keys = [name for name, _ in json_keys(record)]
        assert [k.rstrip("?") for k in shape.fields] == keys
        assert [f.name for f in dataclasses.fields(record)] == keys
    # and the writer writes every one of them
    # (all but pooler, written only for a run that went through one)
    written = set(sample_result().runs[0].to_dict())
    assert {name for name, _ in json_keys(Run)} - {"pooler"} <= written
