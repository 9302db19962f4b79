"""The psycopg strategy's pieces that need no server: errors, connection options, the spec."""

from __future__ import annotations

import psycopg
import pytest

from dbkit.model.error_counts import error_type, sqlstate_of
from dbkit.model.errors import ConfigError
from dbkit.model.spec import RunSpec, check_uses
from dbkit.model.tally import Tally
from dbkit.strategies import STRATEGIES
from dbkit.strategies.psycopg_pool import Refusals, connect_kwargs, options_text


def test_psycopg_errors_carry_the_servers_sqlstate_and_a_refusal_none() -> None:
    # A server error's class knows its code; a refused connection is a bare OperationalError.
    assert sqlstate_of(psycopg.errors.QueryCanceled("canceling statement")) == "57014"
    assert sqlstate_of(psycopg.errors.TooManyConnections("too many")) == "53300"
    refused = psycopg.OperationalError("connection failed: ... FATAL:  sorry, too many clients")
    assert sqlstate_of(refused) is None  # never read from the message
    assert error_type(refused) == "psycopg.OperationalError"


def test_settings_go_into_libpq_options_after_the_dsns_own() -> None:
    assert options_text({"statement_timeout": "100ms"}) == "-c statement_timeout=100ms"
    assert options_text({"search_path": r"a b\c"}, "-c work_mem=4MB") == (
        r"-c work_mem=4MB -c search_path=a\ b\\c"
    )


def test_every_connection_is_autocommit_tagged_and_whole_second_timed() -> None:
    dsn = "postgresql://u@127.0.0.1:5432/db?application_name=mine&options=-c%20work_mem%3D4MB"
    settings = {"statement_timeout": "100ms", "application_name": "dbkit-0123456789abcdef"}
    kwargs = connect_kwargs(dsn, settings, 0.5)
    assert kwargs == {
        "autocommit": True,
        "connect_timeout": 2,  # libpq's least
        "application_name": "dbkit-0123456789abcdef",  # the tag, over the DSN's own
        "options": "-c work_mem=4MB -c statement_timeout=100ms",
    }
    assert connect_kwargs(dsn, {"application_name": "t"}, 60.2)["connect_timeout"] == 61
    assert "options" not in connect_kwargs(dsn, {"application_name": "t"}, 60)


def test_the_strategy_is_a_pool_of_pool_size() -> None:
    spec = RunSpec("psycopg", tasks=1000, pool_size=50, queries=3, hold=0.1)
    strategy = STRATEGIES["psycopg"]
    assert spec.name == "psycopg-50"
    assert strategy.peak_connections(spec) == 50
    assert strategy.ideal(spec) == pytest.approx(6.0)  # 20 waves of 0.3 s
    check_uses("psycopg", ["pool_size", "min_size", "acquire_timeout", "statement_timeout"])
    with pytest.raises(ConfigError, match="psycopg does not use max_overflow"):
        check_uses("psycopg", ["max_overflow"])
    with pytest.raises(ConfigError, match=r"min_size must be within 0\.\.pool_size"):
        RunSpec("psycopg", pool_size=5, min_size=6)


def test_refusals_before_the_window_are_recorded_at_its_start_then_as_they_come() -> None:
    refusals, rec = Refusals(), Tally()
    refused = psycopg.OperationalError("refused")
    refusals(refused)
    refusals(refused)
    assert rec.errors == {}  # nothing in the tally before the window
    refusals.begin(rec)
    assert rec.started
    refusals(refused)
    tally = rec.errors[("psycopg.OperationalError", None)]
    assert (tally.count, tally.tasks) == (3, 0)  # attempts, none of them a task's end
