"""Result files: written atomically and never over another file, read back only when whole."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

# Registers every strategy (dbkit.model.spec): a document's runs are checked against them.
import dbkit.strategies  # noqa: F401
from dbkit.model.errors import ConfigError, ResultExistsError
from dbkit.model.results import FORMAT, Result
from dbkit.model.shape import DOCUMENT_SHAPE, problem_in
from dbkit.store.files import check_writable, rescue_copy, write_new

DEFAULT_DIR = Path("results")


def read_result(path: Path) -> Result:
    """Load a result file; a missing, unreadable, foreign or malformed file is a ConfigError.

    Every field that report, export and plot read is checked first against DOCUMENT_SHAPE, its
    type and the values a run can produce (counts and durations >= 0, finite numbers, ok +
    failed <= tasks, a known strategy), so a hand-edited file is refused with the field's path
    (``runs[0].ok: expected an integer, got 'lots'``), and a document without runs (and no
    fleet) is refused as having nothing to show.
    """
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON result ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a {FORMAT} document")
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a {FORMAT} document (format: {data.get('format')!r})")
    problem = problem_in(data, DOCUMENT_SHAPE)
    if problem is not None:
        raise ConfigError(f"{path}: malformed {FORMAT} document ({problem})")
    if not data["runs"] and data.get("fleet") is None:
        why = "interrupted before any run finished" if data.get("interrupted") else "runs is []"
        raise ConfigError(f"{path}: no runs to report ({why})")
    try:
        return Result.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: malformed {FORMAT} document ({exc!r})") from None


def write_result(result: Result, path: Path) -> Path:
    """Write atomically and never over an existing file (ResultExistsError if one is there)."""
    return write_new(Path(path), lambda out: out.write(result.dumps().encode()))


def default_path(stem: str, directory: Path = DEFAULT_DIR, now: dt.datetime | None = None) -> Path:
    """``results/<stem>-<UTC time>.json``, with a counter if that name is taken."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-") or "result"
    path = directory / f"{safe}-{stamp}.json"
    counter = 2
    while path.exists():
        path = directory / f"{safe}-{stamp}-{counter}.json"
        counter += 1
    return path


def check_result_path(path: Path, plot: bool = False) -> None:
    """Fail before a run if its result (and, with ``plot``, the PNG next to it) could not be
    written later: no time is spent on a result that cannot be kept."""
    check_writable(path)
    if plot:
        if path.suffix == ".png":
            raise ConfigError(f"{path}: the result is JSON; --plot writes the PNG next to it")
        check_writable(path.with_suffix(".png"))


def keep_result(
    result: Result, path: Path, stem: str, auto_dir: Path | None = None
) -> tuple[Path, str | None]:
    """Write the result, never losing it: returns where it went and what went wrong, if any.

    With ``auto_dir`` (the path was named automatically there), a name another dbkit took
    meanwhile gives way to the next free one; any other failure saves a copy in the temp
    folder and the problem says where.
    """
    while True:
        try:
            return write_result(result, path), None
        except ResultExistsError as exc:
            if auto_dir is None:
                reason = str(exc)
                break
            path = default_path(stem, auto_dir)
        except OSError as exc:
            reason = f"cannot write {path}: {exc.strerror or exc}"
            break
    rescued = rescue_copy(lambda f: f.write(result.dumps().encode()), stem)
    return rescued, f"{reason}; the result was saved to {rescued}"
