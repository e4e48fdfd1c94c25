"""Meta's customer-file rules: normalise each identifier as Meta does, then SHA-256 it.

Written from Meta's documentation, not its SDK (the SDK's normaliser strips non-ASCII letters
from names and never adds a country code to phones, see facts/ads-segment-scheduling.md 1.6).
Customer file (developers.facebook.com, Custom Audiences "hashing and normalization"):
EMAIL trim + lowercase; PHONE digits only with the country code, no leading zeros or ``+``;
FN/LN lowercase, no punctuation, UTF-8 letters kept; CT lowercase, no punctuation or spaces;
ST 2-letter code lowercase; ZIP lowercase without spaces, US first 5 digits; COUNTRY ISO-2
lowercase; GEN ``m``/``f``; DOBY ``YYYY``, DOBM ``MM``, DOBD ``DD``. EXTERN_ID is not hashed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from connector.sdk import (
    SkippableError,
    e164,
    hash_into,
    letters_only,
    looks_like_email,
    non_empty,
    normalise_country,
    region_for,
    sha256_hex,
)

__all__ = [
    "META_KEYS",
    "MetaIdentifiers",
    "meta_city",
    "meta_country",
    "meta_email",
    "meta_identifiers",
    "meta_name",
    "meta_phone",
    "meta_state",
    "meta_zip",
]

_WS = re.compile(r"\s+")

# Meta's multi-key schema keys we can fill from a Recipient, in the order rows are sent.
META_KEYS: tuple[str, ...] = (
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "EXTERN_ID",
)


def meta_email(raw: str) -> str:
    """Trim and lowercase (Meta's rule); refuse text that is not an address at all."""
    value = raw.strip().lower()
    if not looks_like_email(value):
        raise SkippableError("email is not an address", field="email")
    return value


def meta_phone(raw: str, region: str = "US") -> str:
    """Digits with the country code, no ``+`` and no leading zeros: ``16505551212``.

    National formats take the country from ``region`` (the record's country, else the
    workspace default), which the SDK's own normaliser never adds.
    """
    return e164(raw, region)[1:]


def meta_name(raw: str) -> str:
    """FN/LN: lowercase, no punctuation or spaces, letters of any script kept as UTF-8."""
    return non_empty(letters_only(raw), "name")


def meta_city(raw: str) -> str:
    """CT: lowercase with no punctuation, digits or spaces (``New York`` -> ``newyork``)."""
    return non_empty(letters_only(raw), "city")


def meta_state(raw: str) -> str:
    """ST: the 2-letter code lowercase for US states; elsewhere lowercase letters only."""
    return non_empty(letters_only(raw), "state")


def meta_zip(raw: str, country: str | None = None) -> str:
    """ZIP: lowercase, no spaces; US codes keep the first 5 digits (drop ZIP+4)."""
    value = _WS.sub("", raw).lower()
    if (country or "").upper() == "US" or re.match(r"^\d{5}-\d{4}$", value):
        value = value.split("-")[0][:5]
    return non_empty(value, "postal_code")


def meta_country(raw: str) -> str:
    """COUNTRY: ISO-3166-1 alpha-2, lowercase (``United Kingdom`` -> ``gb``)."""
    return normalise_country(raw).lower()


def _meta_gender(raw: str) -> str:
    value = raw.strip().lower()[:1]
    if value not in ("m", "f"):
        raise SkippableError("gender is neither m nor f", field="gender")
    return value


def _birth_parts(raw: str) -> tuple[str, str, str]:
    match = re.match(r"^\s*(\d{4})-(\d{1,2})-(\d{1,2})", raw)
    if not match:
        raise SkippableError("birth_date is not YYYY-MM-DD", field="birth_date")
    year, month, day = match.groups()
    if not (1 <= int(month) <= 12 and 1 <= int(day) <= 31):
        raise SkippableError("birth_date is out of range", field="birth_date")
    return year, f"{int(month):02d}", f"{int(day):02d}"


@dataclass(slots=True)
class MetaIdentifiers:
    """One customer-file row: schema key -> hash (EXTERN_ID in clear), and what was dropped."""

    keys: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)

    def row(self, schema: tuple[str, ...]) -> list[str]:
        """The row in ``schema`` order; a key we lack is ``""`` (Meta's documented filler)."""
        return [self.keys.get(key, "") for key in schema]


def meta_identifiers(
    email: str | None,
    phone: str | None,
    match: Mapping[str, str],
    *,
    default_region: str = "US",
) -> MetaIdentifiers:
    """Normalise and hash everything Meta can match on for one person."""
    result = MetaIdentifiers()
    keys, dropped = result.keys, result.dropped
    region = region_for(match, default_region)
    hash_into(keys, dropped, "EMAIL", email, meta_email)
    hash_into(keys, dropped, "PHONE", phone, lambda v: meta_phone(v, region))
    hash_into(keys, dropped, "FN", match.get("first_name"), meta_name)
    hash_into(keys, dropped, "LN", match.get("last_name"), meta_name)
    hash_into(keys, dropped, "CT", match.get("city"), meta_city)
    hash_into(keys, dropped, "ST", match.get("state"), meta_state)
    hash_into(keys, dropped, "ZIP", match.get("postal_code"), lambda v: meta_zip(v, region))
    hash_into(keys, dropped, "COUNTRY", match.get("country"), meta_country)
    hash_into(keys, dropped, "GEN", match.get("gender"), _meta_gender)
    birth = match.get("birth_date")
    if birth:
        try:
            year, month, day = _birth_parts(birth)
        except SkippableError as exc:
            dropped["DOB"] = exc.reason
        else:
            keys.update(DOBY=sha256_hex(year), DOBM=sha256_hex(month), DOBD=sha256_hex(day))
    # EXTERN_ID is matched as sent (Meta: "not hashed"); case is preserved on purpose, unlike
    # the SDK, which lowercases it and so breaks case-sensitive customer ids.
    hash_into(keys, dropped, "EXTERN_ID", match.get("external_id"), str.strip, hashed=False)
    return result
