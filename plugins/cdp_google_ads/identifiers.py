"""Google's Customer Match rules: normalise each identifier as Google does, then SHA-256 it.

Data Manager API ("Format user data", developers.google.com/data-manager): email lowercase,
all whitespace removed, and for gmail.com/googlemail.com the dots and any ``+tag`` of the local
part removed; phone E.164 *with* the ``+``; given name lowercase without prefixes (Mrs.),
family name lowercase without suffixes (Jr.); region code ISO-2 and postal code sent in clear
(not hashed).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.sdk import (
    SkippableError,
    e164,
    hash_into,
    looks_like_email,
    non_empty,
    normalise_country,
    region_for,
)

__all__ = [
    "GOOGLE_NAME_PREFIXES",
    "GOOGLE_NAME_SUFFIXES",
    "GoogleIdentifiers",
    "google_email",
    "google_family_name",
    "google_given_name",
    "google_identifiers",
    "google_phone",
    "google_postal_code",
    "google_region_code",
]

GOOGLE_NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
GOOGLE_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq"})
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")
_WS = re.compile(r"\s+")


def google_email(raw: str) -> str:
    """Lowercase, remove all whitespace; on gmail.com/googlemail.com drop dots and ``+tag``
    (Data Manager API guide "Format user data": ``cloudy.sanfrancisco+shopping@gmail.com`` ->
    ``cloudysanfrancisco@gmail.com``; other domains keep both)."""
    value = _WS.sub("", raw).lower()
    if not looks_like_email(value):
        raise SkippableError("email is not an address", field="email")
    local, _, domain = value.rpartition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise SkippableError("email local part is empty", field="email")
    return f"{local}@{domain}"


def google_phone(raw: str, region: str = "US") -> str:
    """E.164 with the leading ``+`` (``(800)555-0100`` in the US -> ``+18005550100``)."""
    return e164(raw, region)


def _name_tokens(raw: str) -> list[str]:
    text = unicodedata.normalize("NFC", raw).lower()
    # Punctuation goes ("O'Brien" -> "obrien", "Jr." -> "jr"); spaces separate titles.
    cleaned = "".join(ch for ch in text if unicodedata.category(ch)[0] in "LM" or ch.isspace())
    return cleaned.split()


def google_given_name(raw: str) -> str:
    """Lowercase, trimmed, without a leading title such as ``Mrs.``; non-ASCII kept."""
    tokens = _name_tokens(raw)
    while len(tokens) > 1 and tokens[0] in GOOGLE_NAME_PREFIXES:
        tokens.pop(0)
    return non_empty(" ".join(tokens), "first_name")


def google_family_name(raw: str) -> str:
    """Lowercase, no punctuation, without a trailing suffix such as ``Jr.``; non-ASCII kept."""
    tokens = _name_tokens(raw)
    while len(tokens) > 1 and tokens[-1] in GOOGLE_NAME_SUFFIXES:
        tokens.pop()
    return non_empty(" ".join(tokens), "last_name")


def google_region_code(raw: str) -> str:
    """ISO-3166-1 alpha-2, upper case, sent in clear."""
    return normalise_country(raw)


def google_postal_code(raw: str) -> str:
    """Sent in clear; trimmed with inner whitespace collapsed, case kept as the user wrote it."""
    return non_empty(_WS.sub(" ", raw).strip(), "postal_code")


@dataclass(slots=True)
class GoogleIdentifiers:
    """The ``userIdentifiers`` of one AudienceMember, hex-encoded hashes, plus drop reasons."""

    identifiers: list[dict[str, object]] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)


def google_identifiers(
    email: str | None,
    phone: str | None,
    match: Mapping[str, str],
    *,
    default_region: str = "US",
) -> GoogleIdentifiers:
    """Build ``userIdentifiers``: email, phone, and an address only when all four parts exist.

    AddressInfo requires given name, family name, region code and postal code together
    (Data Manager API reference, UserData); a partial address is dropped with a reason.
    """
    result = GoogleIdentifiers()
    region = region_for(match, default_region)
    found: dict[str, str] = {}
    hash_into(found, result.dropped, "emailAddress", email, google_email)
    hash_into(found, result.dropped, "phoneNumber", phone, lambda v: google_phone(v, region))
    for key in ("emailAddress", "phoneNumber"):
        if key in found:
            result.identifiers.append({key: found[key]})
    address: dict[str, str] = {}
    hash_into(address, result.dropped, "givenName", match.get("first_name"), google_given_name)
    hash_into(address, result.dropped, "familyName", match.get("last_name"), google_family_name)
    hash_into(
        address,
        result.dropped,
        "regionCode",
        match.get("country"),
        google_region_code,
        hashed=False,
    )
    postal_code = match.get("postal_code")
    hash_into(address, result.dropped, "postalCode", postal_code, google_postal_code, hashed=False)
    if len(address) == 4:
        result.identifiers.append({"address": address})
    elif address:
        result.dropped["address"] = "address needs first and last name, country and postal code"
    return result
