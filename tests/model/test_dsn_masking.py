"""DSN masking: passwords never shown, other schemes refused without leaking."""

from __future__ import annotations

import pytest

from dbkit.model.dsn import check_dsn, mask_text


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
