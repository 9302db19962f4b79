"""DSN helpers: masking passwords wherever a DSN may be shown, and driver URL forms."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"

# scheme://user:password@host -- the password is everything between the first ':' after
# the user and the last '@' before the host part.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s]*)(?=@)")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace passwords in DSNs (URL or key=value form) and any given secret in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _KV_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text


def password_of(dsn: str) -> str | None:
    """The password in a URL-form DSN, if it has one."""
    try:
        return urlsplit(dsn).password
    except ValueError:
        return None


def check_dsn(dsn: str) -> str:
    """Return ``dsn`` if it is a postgres URL asyncpg accepts; raise ValueError otherwise."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError(
            f"DSN must start with postgresql:// (got {parts.scheme or 'no scheme'!r}: "
            f"{mask_text(dsn)})"
        )
    try:
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"DSN has a bad port: {mask_text(dsn)}") from exc
    return dsn


def sqlalchemy_url(dsn: str) -> str:
    """The same DSN in the form SQLAlchemy's asyncpg dialect takes."""
    scheme, rest = dsn.split("://", 1)
    del scheme
    # SQLAlchemy's asyncpg dialect does not understand libpq's sslmode; translate it.
    rest = rest.replace("sslmode=disable", "ssl=disable")
    return f"postgresql+asyncpg://{rest}"
