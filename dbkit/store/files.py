"""Writing the kit's output files: atomically, and never over an existing file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from dbkit.model.errors import ConfigError, ResultExistsError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_new(path: Path, write: Callable[[IO[bytes]], object]) -> Path:
    """Write ``path`` through a temp file in the same folder, then link() it into place.

    link() fails if the name exists, so no race can make us overwrite a file
    (ResultExistsError); a crash mid-write leaves only a hidden temp file, never a torn one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from the team
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.link(tmp, path)
    except FileExistsError:
        raise ResultExistsError(f"{path} already exists; dbkit never overwrites a file") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return path


def output_path(text: str) -> Path:
    """The file a user named (``--out``, ``--csv``, ...): refuses an empty name, and one that
    ends in a separator, which names a folder (a Path would drop the separator and write a file
    with the folder's name)."""
    if not text.strip():
        raise ConfigError("no file name given: name the file to write")
    if text.endswith(("/", os.sep)):
        raise ConfigError(f"{text} names a folder: name a file to write")
    return Path(text)


def check_writable(path: Path) -> None:
    """Fail now, before any work, if ``path`` could not be written later.

    ResultExistsError if it exists; ConfigError saying why otherwise: no file name, a folder
    there, a file where a parent folder should be, or a folder that cannot be made or
    written to (no permission, a read-only or pseudo file system).
    """
    path = Path(path)
    if str(path) == ".":  # what an empty --out '' becomes
        raise ConfigError("no file name given: name the file to write")
    try:
        if path.is_dir():
            raise ConfigError(f"{path} is a folder: name a file to write")
        if path.exists() or path.is_symlink():
            raise ResultExistsError(f"{path} already exists; dbkit never overwrites a file")
        for parent in path.parents:  # the nearest one that is there must be a folder
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    raise ConfigError(f"cannot write {path}: {parent} is not a folder")
                break
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(tmp)


def rescue_copy(write: Callable[[IO[bytes]], object], stem: str) -> Path:
    """Write to a new file in the system's temp folder: the last resort for a result."""
    fd, name = tempfile.mkstemp(prefix=f"dbkit-{stem}-", suffix=".json")
    os.fchmod(fd, 0o666 & ~_umask())
    with os.fdopen(fd, "wb") as out:
        write(out)
    return Path(name)
