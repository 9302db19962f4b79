"""`dbkit plan`: its DSN may come from a file, as every other command's may."""

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
