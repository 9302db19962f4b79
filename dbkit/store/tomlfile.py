"""Reading the kit's TOML files (scenarios, deploys) with errors that name file and key."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from dbkit.model.errors import ConfigError


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path``; an unreadable or malformed file is a ConfigError naming it."""
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def kind(value: Any) -> str:
    """What a TOML value is, in TOML's words: ``a string``, ``an array``, ``a table``..."""
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "a boolean"
    for types, name in (
        (str, "a string"), (int, "an integer"), (float, "a float"), (dict, "a table"),
        (list, "an array"), (dt.datetime, "a date-time"), (dt.date, "a date"), (dt.time, "a time"),
    ):  # fmt: skip
        if isinstance(value, types):
            return name
    return f"a {type(value).__name__}"


def table(value: Any, path: Path, where: str) -> dict[str, Any]:
    """``value`` if it is a TOML table, else a ConfigError naming the file and key."""
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {where} = {value!r}: must be a table, got {kind(value)}")
    return value


def no_unknown(entries: dict[str, Any], allowed: set[str], path: Path, prefix: str) -> None:
    """Refuse the first key of ``entries`` that is not in ``allowed``, listing what is."""
    unknown = sorted(set(entries) - allowed)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key {prefix}{unknown[0]} (allowed: {', '.join(sorted(allowed))})"
        )
