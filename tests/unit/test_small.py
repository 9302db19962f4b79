"""DSN masking, percentiles, error classification, container command: no server needed."""

from __future__ import annotations

import asyncpg
import pytest

from dbkit.model.dsn import check_dsn, mask_text
from dbkit.model.stats import LatencySummary, percentile
from dbkit.model.tally import Tally, sqlstate_of, type_name
from dbkit.servers.container import IMAGE, container_command


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:orange@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("postgresql://app:p%40ss:w@db/x", "postgresql://app:***@db/x"),
        ("host=db password=orange user=app", "host=db password=*** user=app"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("cannot reach postgres://u:secret@h/d now", "cannot reach postgres://u:***@h/d now"),
    ],
)
def test_mask_text(text: str, expected: str) -> None:
    assert mask_text(text) == expected


def test_mask_text_also_masks_given_secrets() -> None:
    assert mask_text("the word is orange", ("orange",)) == "the word is ***"


def test_check_dsn_rejects_other_schemes_without_leaking() -> None:
    with pytest.raises(ValueError, match="must start with postgresql://") as info:
        check_dsn("mysql://u:orange@h/d")
    assert "orange" not in str(info.value)
    assert check_dsn("postgresql://u@h/d") == "postgresql://u@h/d"


def test_percentiles_interpolate_like_numpy() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 100) == 100.0
    summary = LatencySummary.of([3.0, 1.0, 2.0])
    assert (summary.p50, summary.max) == (2.0, 3.0)
    assert LatencySummary.of([]) == LatencySummary()


def test_errors_are_keyed_by_type_and_sqlstate() -> None:
    rec = Tally()
    refused = asyncpg.TooManyConnectionsError("sorry, too many clients already")
    rec.failure(refused)
    rec.failure(asyncpg.TooManyConnectionsError("remaining connection slots are reserved"))
    rec.failure(TimeoutError())
    rec.success(rec.t0, rec.t0 + 0.0, 3)
    assert sqlstate_of(refused) == "53300"
    assert type_name(TimeoutError) == "TimeoutError"
    tally = rec.errors[("asyncpg.exceptions.TooManyConnectionsError", "53300")]
    assert tally.count == 2 and tally.example == "sorry, too many clients already"
    assert rec.errors[("TimeoutError", None)].count == 1
    assert (rec.ok, rec.failed, rec.done, rec.queries_ok) == (1, 3, 4, 3)


def test_recorder_splits_each_latency_into_wait_and_service() -> None:
    rec = Tally()
    arrived = rec.t0 - 1.0  # arrived a second ago
    rec.success(arrived, arrived + 0.25, 1)  # had its connection 0.25 s after arriving
    rec.success(arrived, arrived, 2)  # had it at once
    (slow, quick), (wait_slow, wait_quick) = rec.latencies, rec.waits
    assert wait_slow == pytest.approx(0.25) and wait_quick == 0.0
    assert slow >= 1.0 and quick >= 1.0
    services = list(rec.services())
    assert services == pytest.approx([slow - 0.25, quick])
    assert (rec.ok, rec.queries_ok) == (2, 3)


def test_sqlstate_from_sqlalchemy_orig() -> None:
    class Wrapped(Exception):
        orig = asyncpg.TooManyConnectionsError("x")

    assert sqlstate_of(Wrapped()) == "53300"


def test_container_command_pins_the_image_and_passes_max_connections() -> None:
    assert IMAGE == "postgres:17-alpine"  # latest is 18+, which moved PGDATA
    assert container_command(100) == "postgres -c max_connections=100"
    assert container_command(20, {"fsync": "off"}) == (
        "postgres -c max_connections=20 -c fsync=off"
    )
