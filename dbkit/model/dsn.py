"""DSN helpers: masking passwords wherever a DSN may be shown, and driver URL forms.

Two maskers: ``mask_secrets`` for data (result documents, the recorded command line) changes
only a URL's password and the passwords this process was given, so a user's SQL that mentions
the word stays as typed; ``mask_text`` for messages also masks libpq's ``password=...`` form.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

MASK = "***"

# A URL anywhere in a text: scheme://, then anything up to whitespace.
_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://\S*")
# scheme://user:password@host -- the password is everything between the first ':' after
# the user and the last '@' before the host part.
_URL_PASSWORD = re.compile(r"(?P<head>^[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@]*:)(?P<pw>.*)(?=@)")
# ...?password=...&: a query parameter asyncpg and libpq take as the password.
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<pw>[^&#\s'\"]*)", re.IGNORECASE)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


# Passwords of DSNs this process was given: masked wherever they appear, DSN or not.
_SECRETS: set[str] = set()
MIN_SECRET_CHARS = 4  # masking "a" everywhere would garble every message


def remember_secret(dsn: str) -> None:
    """Mask this DSN's passwords in every text the maskers see from now on."""
    for password in _passwords(dsn):
        if len(password) >= MIN_SECRET_CHARS:
            _SECRETS.add(password)


def read_dsn_file(path: str) -> str:
    """The DSN on the first non-empty line of a file (keeps it out of shell history)."""
    try:
        with open(path) as handle:
            lines = [line.strip() for line in handle]
    except OSError as exc:
        raise ValueError(f"cannot read the DSN file {path}: {exc.strerror}") from None
    dsn = next((line for line in lines if line and not line.startswith("#")), "")
    if not dsn:
        raise ValueError(f"the DSN file {path} holds no DSN")
    return dsn


def given_dsn(dsn: str | None, dsn_file: str | None = None) -> str | None:
    """The DSN a command was given: ``dsn`` (blank is none) or the first line of ``dsn_file``.

    Never both: two would leave one silently unused, and running against a server other than
    the one typed is the kind of surprise a shared server must not get. The DSN's passwords
    are masked from here on, wherever they show up. Raises ConfigError (from model.errors).
    """
    from dbkit.model.errors import ConfigError

    if dsn is not None and not dsn.strip():
        dsn = None
    if dsn_file is not None:
        if dsn is not None:
            raise ConfigError(
                "two DSNs given (--dsn or DBKIT_DSN, and --dsn-file): give one of them"
            )
        try:
            dsn = read_dsn_file(dsn_file)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    if dsn is not None:
        remember_secret(dsn)
    return dsn


def _mask_url(url: str) -> str:
    url = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, url)
    return _QUERY_PASSWORD.sub(lambda m: m["head"] + MASK, url)


def mask_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace the passwords of URLs in ``text`` (user:password@ and ?password=) and every
    known secret wherever it appears (a password with a space ends the URL early, but not the
    secret); nothing else changes, so SQL that mentions ``password=`` is kept as typed."""
    text = _URL.sub(lambda m: _mask_url(m.group()), text)
    for secret in (*secrets, *_SECRETS):
        if secret:
            text = text.replace(secret, MASK)
    return text


def mask_data(value: Any, plain: frozenset[str] = frozenset()) -> Any:
    """A copy of JSON-like data (dicts, lists, tuples, strings) with ``mask_secrets`` applied
    to every string value but those under a key in ``plain`` (the kit's own vocabulary, which
    holds no secret): masking before serialising can never break the document."""
    if isinstance(value, str):
        return mask_secrets(value)
    if isinstance(value, dict):
        return {
            key: item if key in plain and isinstance(item, str) else mask_data(item, plain)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [mask_data(item, plain) for item in value]
    return value


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace passwords in DSNs (URL or key=value form) and any known secret in a message."""
    text = _KV_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    return mask_secrets(text, secrets)


def _passwords(dsn: str) -> list[str]:
    try:
        parts = urlsplit(dsn)
        found = [parts.password] if parts.password else []
    except ValueError:
        return []
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        if key.lower() == "password" and value:
            found += dict.fromkeys((value, unquote(value)))  # as typed, and as the server sees it
    return found


def password_of(dsn: str) -> str | None:
    """The password in a URL-form DSN (user:password@, else ?password=), if it has one."""
    return next(iter(_passwords(dsn)), None)


def check_dsn(dsn: str) -> str:
    """Return ``dsn`` if it is a postgres URL asyncpg accepts; raise ValueError otherwise.

    The message says what is wrong without echoing the DSN: a malformed one may hold a
    password in a place no masking recognises.
    """
    try:
        parts = urlsplit(dsn)
    except ValueError:  # e.g. an unclosed [ of an IPv6 address; its text may quote the DSN
        raise ValueError(
            "DSN is not a valid URL (an unclosed [ of an IPv6 host, or a character a URL "
            "cannot hold: percent-encode it)"
        ) from None
    if "@" in parts.netloc.rpartition("@")[0]:
        raise ValueError("DSN has an @ in its user or password; write it as %40")
    after_scheme = dsn[len(parts.scheme) : len(parts.scheme) + 3]
    if parts.scheme not in ("postgres", "postgresql") or after_scheme != "://":
        raise ValueError("DSN must start with postgresql:// or postgres://")
    try:
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        raise ValueError("DSN has a bad port (the host's port must be a number 1-65535)") from None
    return dsn
