"""The one text-table aligner every report uses: plain columns, two spaces apart."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence


def align(
    header: Sequence[str],
    rows: Iterable[Sequence[str]],
    *,
    left: Collection[int] = (0,),
    rule: bool = False,
) -> list[str]:
    """The header and rows as aligned lines, each column as wide as its widest cell.

    Columns whose index is in ``left`` (names, drivers, error lists) read left to right; the
    rest (numbers) line up on the right. ``rule`` puts a line of dashes under the header.
    Trailing spaces are dropped, so an empty last cell leaves no blank tail.
    """
    body = [list(row) for row in rows]
    table = [list(header), *body]
    for row in body:
        if len(row) != len(header):
            raise ValueError(f"a row of {len(row)} cells under a header of {len(header)}")
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (
            cell.ljust(width) if i in left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        return "  ".join(padded).rstrip()

    lines = [line(table[0])]
    if rule:
        lines.append(line(["-" * width for width in widths]))
    return lines + [line(row) for row in body]
