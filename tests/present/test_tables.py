"""The one table aligner: widths, sides, the rule, no trailing blanks."""

from __future__ import annotations

import pytest

from dbkit.present.tables import align


def test_columns_take_their_widest_cell_and_numbers_align_right() -> None:
    lines = align(("name", "n", "note"), [("a", "1000", "x"), ("long-name", "7", "")], left=(0, 2))
    assert lines == [
        "name          n  note",
        "a          1000  x",
        "long-name     7",
    ]


def test_a_rule_goes_under_the_header() -> None:
    assert align(("run", "ok"), [("pool-5", "30")], rule=True) == [
        "run     ok",
        "------  --",
        "pool-5  30",
    ]


def test_a_row_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="a row of 1 cells under a header of 2"):
        align(("a", "b"), [("x",)])
