"""Error records: failures of one (exception type, SQLSTATE), as every result holds them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from dbkit.model.keys import Key


@dataclass(frozen=True)
class ErrorRecord:
    """Failures of one (exception type, SQLSTATE): ``count`` failed attempts (as the server
    counts them: a retried attempt, and each connection a pool could not open, count too),
    ``tasks`` of them the last of their task (None in files from before: equal to count),
    when, and an example."""

    type: Annotated[str, Key("str")]
    sqlstate: Annotated[str | None, Key((None, "str"))]
    count: Annotated[int, Key("count")]
    first_s: Annotated[float, Key("number")]
    last_s: Annotated[float, Key("number")]
    example: Annotated[str, Key("str")]
    tasks: Annotated[int | None, Key((None, "count"), absent=None)] = None

    @property
    def tasks_ended(self) -> int:
        """The tasks that failed with this error."""
        return self.count if self.tasks is None else self.tasks

    @property
    def label(self) -> str:
        return error_label(self.type, self.sqlstate)


def error_label(type_name: str, sqlstate: str | None) -> str:
    """How an error class is named in tables: its SQLSTATE, or its exception's class name."""
    return sqlstate or type_name.rsplit(".", 1)[-1]
