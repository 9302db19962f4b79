"""Where a DSN's secret can be: masked in data and messages, never echoed when malformed."""

from __future__ import annotations

from pathlib import Path

import pytest

from dbkit.model.dsn import check_dsn, given_dsn, mask_secrets, mask_text, password_of
from dbkit.model.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:orange@db:5432/x", "postgresql://app:***@db:5432/x"),
        (
            "postgresql://app@db/x?password=orange&sslmode=disable",
            "postgresql://app@db/x?password=***&sslmode=disable",
        ),
        ("postgresql://app@db/x?sslmode=disable&PASSWORD=orange", "postgresql://app@db/x?sslmode=disable&PASSWORD=***"),
        ("--dsn=postgres://u:orange@h/d", "--dsn=postgres://u:***@h/d"),
        # a user's SQL that merely mentions the word is theirs, not a secret
        ("SELECT 'password=abc'", "SELECT 'password=abc'"),
        ("SELECT 1 WHERE password = 'x'", "SELECT 1 WHERE password = 'x'"),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
    ],
)  # fmt: skip
def test_mask_secrets_masks_dsn_passwords_only(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


def test_a_password_query_parameter_is_a_password() -> None:
    assert password_of("postgresql://app@db/x?sslmode=disable&password=orange") == "orange"
    assert password_of("postgresql://app:lemon@db/x") == "lemon"
    assert password_of("postgresql://app@db/x") is None


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("postgresql//u:orange@h/d", "must start with postgresql://"),
        ("mysql:/u:orange@h/d", "must start with postgresql://"),
        ("host=h password=orange", "must start with postgresql://"),
        ("orange", "must start with postgresql://"),
        ("postgresql://u:orange@[::1/d", "not a valid URL"),
        ("postgresql://u:orange@h:port/d", "bad port"),
        ("postgresql://u:or@nge@h/d", "write it as %40"),
    ],
)
def test_a_malformed_dsn_is_described_never_echoed(dsn: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        check_dsn(dsn)
    message = str(info.value)
    assert "orange" not in message and "or@nge" not in message and "nge@" not in message


def test_a_well_formed_dsn_passes() -> None:
    for dsn in ("postgresql://u:p@h:5432/d", "postgres://h/d?sslmode=disable", "PostgreSQL://h/d"):
        assert check_dsn(dsn) == dsn


def test_known_secrets_are_masked_wherever_they_appear_but_in_the_kit_s_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    from dbkit.engine.metadata import collect_metadata
    from dbkit.model import dsn

    monkeypatch.setattr(dsn, "_SECRETS", {"my pass", "pool"})
    # a password with a space ends the URL before its @: the known secret still goes
    command = ["dbkit", "run", "pool", "--dsn", "postgresql://u:my pass@h/d"]
    meta = collect_metadata(None, "asyncio", command, dt.datetime.now(dt.UTC))
    assert meta["command"][4] == "postgresql://u:***@h/d"
    # values that are the kit's own words stay, everything else is masked
    data = {"strategy": "pool", "sql": "SELECT 'password=abc', 'pool'"}
    assert dsn.mask_data(data, frozenset({"strategy"})) == {
        "strategy": "pool",
        "sql": "SELECT 'password=abc', '***'",
    }


def test_a_dsn_comes_from_the_option_or_the_file_never_both(tmp_path: Path) -> None:
    path = tmp_path / "dsn"
    path.write_text("# the shared server\n\npostgresql://app:tangerine@db/x\n")
    assert given_dsn(None, str(path)) == "postgresql://app:tangerine@db/x"
    assert "tangerine" not in mask_text("it said tangerine")  # remembered as a secret
    assert given_dsn("  ", None) is None and given_dsn(None, None) is None
    with pytest.raises(ConfigError, match="two DSNs given"):
        given_dsn("postgresql://b@db/y", str(path))
    with pytest.raises(ConfigError, match="cannot read the DSN file"):
        given_dsn(None, str(tmp_path / "none"))
