"""SHA-256 of normalised identifiers: what every ad platform's matching has in common.

Ad platforms match on hashes, so a hash is only useful if the text before it is exactly what the
platform normalises its own users to. Those rules differ per platform and live in each platform's
plugin (``cdp_meta.identifiers``, ``cdp_google_ads.identifiers``); this module holds the shared
parts: the digest itself, digests passed through from upstream, E.164 phones, letters-only text,
and :func:`hash_into`, which turns one raw value into a digest or a drop reason.

Values that already are a SHA-256 hex digest (64 hex characters) pass through lowercased, so a
customer who hashes upstream can feed us hashes. A value that cannot be normalised is dropped
with a reason; the caller rejects the record only when nothing hashable is left.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from functools import lru_cache

import phonenumbers

from connector.errors import SkippableError
from connector.schema.normalise import normalise_country

__all__ = [
    "e164",
    "hash_into",
    "is_sha256_hex",
    "letters_only",
    "looks_like_email",
    "non_empty",
    "region_for",
    "sha256_hex",
]

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes (the platforms' documented encoding)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True when ``value`` already is a SHA-256 hex digest (trimmed, any case)."""
    return bool(_SHA256.match(value.strip()))


def looks_like_email(value: str) -> bool:
    """One ``@``, a dotted domain, no whitespace: enough to refuse text that is no address."""
    return bool(_EMAIL.match(value))


def letters_only(text: str) -> str:
    """Keep letters of any script (NFC), drop punctuation, digits, symbols and spaces."""
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch).startswith("L"))


def non_empty(value: str, what: str) -> str:
    """``value``, or a SkippableError naming the field when normalising left nothing."""
    if not value:
        raise SkippableError(f"{what} is empty after normalisation", field=what)
    return value


@lru_cache(maxsize=100_000)
def e164(raw: str, region: str) -> str:
    """The phone in E.164 (``+16505551212``); national numbers are read in ``region``."""
    value = raw.strip()
    if not value:
        raise SkippableError("phone is empty", field="phone")
    if value.startswith("00"):  # international call prefix used across Europe
        value = "+" + value[2:]
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException:
        raise SkippableError("phone cannot be parsed", field="phone") from None
    # is_possible (length per country) rather than is_valid: metadata lags new number ranges,
    # and a wrong-but-possible number only costs a non-match, never a wrong match.
    if not phonenumbers.is_possible_number(number):
        raise SkippableError("phone has an impossible length for its country", field="phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_into(
    out: dict[str, str],
    dropped: dict[str, str],
    key: str,
    raw: str | None,
    normalise: Callable[[str], str],
    *,
    hashed: bool = True,
) -> None:
    """Put ``key``'s normalised (and, unless ``hashed=False``, hashed) value into ``out``.

    Blank values are skipped; a value ``normalise`` refuses lands in ``dropped`` with its reason.
    """
    if raw is None or not str(raw).strip():
        return
    text = str(raw)
    if hashed and is_sha256_hex(text):
        out[key] = text.strip().lower()
        return
    try:
        value = normalise(text)
    except SkippableError as exc:
        dropped[key] = exc.reason
        return
    out[key] = sha256_hex(value) if hashed else value


def region_for(match: Mapping[str, str], default_region: str) -> str:
    """The country phones are read in: the person's own when known, else the default."""
    country = match.get("country")
    if country and not is_sha256_hex(country):
        try:
            return normalise_country(country)
        except SkippableError:
            pass
    return default_region
