"""--check and --junit on the measuring commands: the verdict first, in the file, exit 3."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, dbkit

RUN = ["run", "pool", "--tasks", "200", "--pool-size", "20", "--queries", "1", "--hold", "0.05",
       "--server", "embedded"]  # fmt: skip


def test_a_failed_check_exits_3_with_the_verdict_first_in_the_file_and_junit(
    tmp_path: Path,
) -> None:
    out, junit = tmp_path / "r.json", tmp_path / "checks.xml"
    proc = dbkit(*RUN, "--check", "p99<0.001", "--check", "errors==0", "--out", str(out),
                 "--junit", str(junit))  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL p99<0.001 (p99 ") and lines[1] == "PASS errors==0 (errors 0)"
    checks = json.loads(out.read_text())["checks"]
    assert [(c["check"], c["passed"]) for c in checks] == [
        ("p99<0.001", False),
        ("errors==0", True),
    ]
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("2", "1")


def test_passing_checks_exit_0(tmp_path: Path) -> None:
    proc = dbkit(*RUN, "--check", "errors==0", "--check", "peak<=20", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert all(c["passed"] for c in doc["checks"]) and len(doc["checks"]) == 2
    assert "PASS errors==0" in proc.stderr  # with --json the verdict goes to stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["run", "pool", "--check", "p99<fast"], "'fast' is not a number"),
        (["run", "pool", "--check", "pool-90.p99<4"], "no run named 'pool-90'"),
        (["scenario", "pool", "--check", "nope.p99<1"], "no run named 'nope'"),
        (
            ["fleet", "--service", "api:replicas=1,workers=1,pool_size=2", "--check", "eff>=0.9"],
            "a fleet's totals have no eff",
        ),
    ],
    ids=["malformed", "run", "scenario", "fleet"],
)
def test_a_bad_check_is_refused_before_anything_runs(
    tmp_path: Path, args: list[str], needle: str
) -> None:
    proc = dbkit(*args, cwd=tmp_path)
    assert_one_line_error(proc, 2, needle)
    assert not list(tmp_path.rglob("*.json"))
