"""Errors keyed by type and SQLSTATE; latency split into wait and service."""

from __future__ import annotations

import asyncpg
import pytest

from dbkit.model.error_counts import sqlstate_of, type_name
from dbkit.model.tally import Tally


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
