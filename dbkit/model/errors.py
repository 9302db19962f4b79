"""Exceptions raised by the dbkit library; the CLI turns them into one-line messages."""


class DbkitError(Exception):
    """Base class: something the user can fix or should know, never a bug."""


class ConfigError(DbkitError):
    """Bad input: an option, a scenario or deploy file, a value out of range."""


class ServerError(DbkitError):
    """A PostgreSQL server could not be started, reached or prepared."""


class ResultExistsError(ConfigError):
    """An output file is already there; dbkit never overwrites one (bad input: exit 2)."""
