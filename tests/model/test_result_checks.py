"""The ``checks`` section of a result document: absent without checks, typed, read back, and
checked by the reader (a verdict its own numbers contradict is refused)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from dbkit.model.checks import evaluate, parse_checks
from dbkit.model.errors import ConfigError
from dbkit.store.results import read_result, write_result
from tests.helpers import GOLDEN, sample_result


def _with_checks(*texts: str) -> dict[str, object]:
    result = sample_result()
    result = dataclasses.replace(result, checks=evaluate(parse_checks(texts), result))
    data: dict[str, object] = json.loads(result.dumps())
    return data


def test_no_checks_no_section() -> None:
    assert "checks" not in json.loads(sample_result().dumps())
    assert "checks" not in json.loads(GOLDEN.read_text())


def test_verdicts_round_trip(tmp_path: Path) -> None:
    result = sample_result()
    result = dataclasses.replace(
        result, checks=evaluate(parse_checks(["p99<2", "ghost.ok>=1", "pool-20.peak<=9"]), result)
    )
    again = read_result(write_result(result, tmp_path / "r.json"))
    assert again == result
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["checks"][0] == {
        "check": "p99<2",
        "run": "unbatched",
        "figure": "p99",
        "op": "<",
        "threshold": 2.0,
        "value": 1.1,
        "passed": True,
        "note": None,
    }
    assert [v["note"] for v in data["checks"][2:]] == ["no run named ghost", "peak not measured"]


@pytest.mark.parametrize(
    ("index", "key", "value", "message"),
    [
        (0, "passed", False, "checks[0].passed: false, but 1.1 < 2.0 is true"),
        (1, "passed", True, "checks[1].passed: true, but 3.0 < 2.0 is false"),
        (0, "op", "=<", "checks[0].op: expected one of <=, >=, ==, !=, <, >"),
        (0, "value", "fast", "checks[0].value: expected a number or null"),
        (0, "extra", 1, "checks[0].extra: unexpected key"),
        (2, "passed", True, "checks[2].passed: true with no value measured"),
    ],
)
def test_the_reader_checks_the_section(
    tmp_path: Path, index: int, key: str, value: object, message: str
) -> None:
    data = _with_checks("p99<2", "ghost.p99<1")
    checks = data["checks"]
    assert isinstance(checks, list)
    checks[index][key] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_result(path)


def test_counts_stay_whole_numbers_and_times_stay_seconds() -> None:
    data = _with_checks("errors[53300]==0", "unbatched.peak<=90", "unbatched.p99<1")
    checks = data["checks"]
    assert isinstance(checks, list)
    values = [(v["run"], v["value"]) for v in checks]
    assert values == [("unbatched", 104), ("pool-20", 0), ("unbatched", 91), ("unbatched", 1.1)]
    assert [type(v) for _, v in values] == [int, int, int, float]
