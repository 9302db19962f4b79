"""DSN helpers: masking passwords wherever a DSN may be shown, and driver URL forms."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"

# scheme://user:password@host -- the password is everything between the first ':' after
# the user and the last '@' before the host part.
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^\s]*)(?=@)")
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.IGNORECASE)


# Passwords of DSNs this process was given: masked wherever they appear, DSN or not.
_SECRETS: set[str] = set()
MIN_SECRET_CHARS = 4  # masking "a" everywhere would garble every message


def remember_secret(dsn: str) -> None:
    """Mask this DSN's password in every text ``mask_text`` sees from now on."""
    password = password_of(dsn)
    if password and len(password) >= MIN_SECRET_CHARS:
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


def mask_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Replace passwords in DSNs (URL or key=value form) and any known secret in ``text``."""
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    text = _KV_PASSWORD.sub(lambda m: m["head"] + MASK, text)
    for secret in (*secrets, *_SECRETS):
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
    try:
        parts = urlsplit(dsn)
    except ValueError as exc:  # e.g. an unclosed [ of an IPv6 address
        raise ValueError(f"DSN is not a valid URL ({exc}): {mask_text(dsn)}") from None
    if "@" in parts.netloc.rpartition("@")[0]:
        raise ValueError(f"DSN has an @ in its user or password; write it as %40: {mask_text(dsn)}")
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
