"""The application_name that marks a run's connections as the kit's own (no server needed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from dbkit.model.identity import (
    FAULT_APP_NAME,
    MAX_APP_NAME_BYTES,
    MONITOR_APP_NAME,
    new_tag,
    tagged,
)
from dbkit.model.spec import RunSpec
from dbkit.store.results import read_result
from dbkit.strategies import Target


def test_a_tag_is_unique_per_run_and_fits_in_a_postgres_name() -> None:
    tags = {new_tag() for _ in range(1000)}
    assert len(tags) == 1000
    for tag in tags:
        assert tag.startswith("dbkit-")
        # application_name is truncated to NAMEDATALEN - 1 bytes: a longer tag would not match
        assert len(tag.encode()) <= MAX_APP_NAME_BYTES == 63
    # the kit's own helper connections are never taken for a run's
    assert MONITOR_APP_NAME not in tags and FAULT_APP_NAME not in tags
    assert len({MONITOR_APP_NAME, FAULT_APP_NAME}) == 2


def test_the_tag_joins_the_specs_session_settings_and_wins() -> None:
    spec = RunSpec("pool", statement_timeout=0.5)
    assert tagged(spec.server_settings, "dbkit-x") == {
        "statement_timeout": "500ms",
        "application_name": "dbkit-x",
    }
    # a setting of the same name from elsewhere never replaces the run's tag
    assert tagged({"application_name": "mine"}, "dbkit-x") == {"application_name": "dbkit-x"}


def test_a_target_gives_its_tag_to_the_specs_settings() -> None:
    spec = RunSpec("sqlalchemy", pool_size=3, statement_timeout=1.0)
    target = Target("postgresql://u@h/db", "dbkit-abc")
    settings = target.settings(spec)
    assert settings == {"statement_timeout": "1000ms", "application_name": "dbkit-abc"}


def test_the_table_shows_the_runs_peak_and_the_servers_where_they_differ() -> None:
    from dbkit.present.report import format_table
    from tests.helpers import sample_result

    storm, pool = sample_result().runs
    assert (storm.peak_connections, storm.peak_server_connections) == (91, 96)
    _, _, storm_row, pool_row = format_table([storm, pool])
    assert "91 (server 96)" in storm_row
    assert storm.connection_samples == storm.connections  # plots show the run's own connections
    # A file from before the tag: the server's count is all it has, and says so.
    assert pool.peak_connections is None and "server 20" in pool_row
    same = dataclasses.replace(pool, peak_connections=20)
    assert format_table([same])[2].split()[-2:] == ["20", "none"]


def test_files_from_before_the_tag_are_still_read(tmp_path: Path) -> None:
    from tests.helpers import GOLDEN

    data = json.loads(GOLDEN.read_text())
    for run in data["runs"]:
        for key in ("peak_connections", "connections", "application_name"):
            del run[key]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    storm, _ = read_result(path).runs
    assert (storm.peak_connections, storm.connections, storm.application_name) == (None, (), None)
    assert storm.peak_server_connections == 96
    assert storm.connection_samples == storm.server_connections  # all an old file has
