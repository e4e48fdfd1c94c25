"""Keyed hashes of identifiers: how a privacy request is kept without keeping the PII.

An identifier is first put in the identity graph's own form (``email:ann@example.org``,
``phone:+447911123456``, ``hubspot_id:101``; a source record as ``record:<source>:<id>``) and
then hashed with HMAC-SHA256 under the workspace's privacy key, a random secret created once in
the workspace (``privacy.key``, owner-only). A plain hash of an email can be reversed by hashing
candidate addresses; a keyed one cannot without the key. Losing the key means stored requests
and suppressions no longer match anything, so back it up with the workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from connector.errors import ConfigError, SkippableError
from connector.schema.normalise import normalise_email, normalise_phone

__all__ = ["Hasher", "identifier_key", "load_key"]

KEY_FILE = "privacy.key"


def load_key(workspace: Path) -> bytes:
    """The workspace's privacy key, created on first use."""
    path = workspace / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    text = path.read_text().strip()
    if len(text) < 32:
        raise ConfigError(f"{path} is not a privacy key (expected 64 hex characters)")
    return bytes.fromhex(text)


def identifier_key(kind: str, value: str, region: str) -> str:
    """An identifier as the identity graph spells it; ConfigError when it cannot be one."""
    try:
        if kind == "email":
            return f"email:{normalise_email(value)}"
        if kind == "phone":
            return f"phone:{normalise_phone(value, region)}"
    except SkippableError as exc:
        # a national number is read in the workspace's region: say which, it is the usual cause
        where = (
            f" (read as a {region} number: write it as +<country code>…, or set "
            "identity.default_region)"
            if kind == "phone" and not value.strip().startswith("+")
            else ""
        )
        raise ConfigError(f"not a valid {kind}: {exc.reason}{where}") from None
    kind_part, sep, rest = value.partition(":")
    if kind == "id" and sep and kind_part and rest:
        return f"{kind_part.strip()}:{rest.strip()}"
    if kind == "record" and sep and kind_part and rest:
        return f"record:{kind_part.strip()}:{rest.strip()}"
    example = (
        "SOURCE:ID (e.g. shop:c17)" if kind == "record" else "KIND:VALUE (e.g. hubspot_id:101)"
    )
    raise ConfigError(f"{kind} identifiers are written {example}")


class Hasher:
    """HMAC-SHA256 of identity keys under one key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, id_key: str) -> str:
        return hmac.new(self._key, id_key.encode(), hashlib.sha256).hexdigest()
