"""Records whose JSON keys are their fields, listed once: in the dataclass.

A field annotated ``Annotated[type, Key(shape)]`` is a JSON key whose value has ``shape``
(``dbkit.model.shape`` builds the reader's checks from it); ``Key(shape, absent=value)`` is a
key that files written before it existed lack, read as ``value``. ``read`` builds a record's
arguments from a checked document by the same list, so the checks and the reader cannot name
different keys.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """A field's JSON value: its shape, and what an absent key means (required if not given)."""

    shape: Any
    absent: Any = _REQUIRED

    @property
    def optional(self) -> bool:
        return self.absent is not _REQUIRED


def json_keys(cls: type) -> list[tuple[str, Key]]:
    """The JSON keys of the record ``cls``, in field order: each field annotated with a Key."""
    hints = typing.get_type_hints(cls, include_extras=True)
    out = []
    for f in dataclasses.fields(cls):
        keys = [m for m in getattr(hints[f.name], "__metadata__", ()) if isinstance(m, Key)]
        if keys:
            out.append((f.name, keys[0]))
    return out


def read(cls: type, data: Mapping[str, Any], **made: Any) -> dict[str, Any]:
    """The arguments of ``cls`` from its checked JSON object: every key's value as stored, an
    absent key's ``absent`` value, and ``made`` for the values the caller builds (records,
    tuples)."""
    out = {}
    for name, key in json_keys(cls):
        if name not in made:
            out[name] = data[name] if name in data or not key.optional else key.absent
    return {**out, **made}


def write(record: Any) -> dict[str, Any]:
    """The record's keys and values in field order (nested values as they are: the caller
    writes the records and tuples it holds)."""
    return {name: getattr(record, name) for name, _ in json_keys(type(record))}
