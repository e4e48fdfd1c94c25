"""Normalise and SHA-256 hash ad-matching identifiers, one rule set per platform.

Ad platforms match on hashes, so a hash is only useful if the text before it is exactly what
the platform normalises its own users to. The rules differ per platform, so each has its own
functions here, written from the platforms' documentation (not from their SDKs: the Meta SDK's
customer-file normaliser strips non-ASCII letters from names and never adds a country code to
phones, see facts/ads-segment-scheduling.md 1.6):

Meta customer file (developers.facebook.com, Custom Audiences "hashing and normalization"):
  EMAIL trim + lowercase; PHONE digits only with the country code, no leading zeros or ``+``;
  FN/LN lowercase, no punctuation, UTF-8 letters kept; CT lowercase, no punctuation or spaces;
  ST 2-letter code lowercase; ZIP lowercase without spaces, US first 5 digits; COUNTRY ISO-2
  lowercase; GEN ``m``/``f``; DOBY ``YYYY``, DOBM ``MM``, DOBD ``DD``. EXTERN_ID is not hashed.
Google Data Manager API ("Format user data", developers.google.com/data-manager):
  email lowercase, all whitespace removed, and for gmail.com/googlemail.com the dots and any
  ``+tag`` of the local part removed; phone E.164 *with* the ``+``; given name lowercase
  without prefixes (Mrs.), family name lowercase without suffixes (Jr.); region code ISO-2 and
  postal code sent in clear (not hashed).

Values that already are a SHA-256 hex digest (64 hex characters) pass through lowercased, so a
customer who hashes upstream can feed us hashes. A value that cannot be normalised is dropped
with a reason; the caller rejects the record only when nothing hashable is left.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

from connector.errors import SkippableError
from connector.schema.normalise import normalise_country

__all__ = [
    "GOOGLE_NAME_PREFIXES",
    "GOOGLE_NAME_SUFFIXES",
    "META_KEYS",
    "GoogleIdentifiers",
    "MetaIdentifiers",
    "google_email",
    "google_family_name",
    "google_given_name",
    "google_identifiers",
    "google_phone",
    "google_postal_code",
    "google_region_code",
    "is_sha256_hex",
    "meta_city",
    "meta_country",
    "meta_email",
    "meta_identifiers",
    "meta_name",
    "meta_phone",
    "meta_state",
    "meta_zip",
    "sha256_hex",
]

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_WS = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

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


def sha256_hex(text: str) -> str:
    """Lowercase hex SHA-256 of the UTF-8 bytes (both platforms' documented encoding)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_sha256_hex(value: str) -> bool:
    """True when ``value`` already is a SHA-256 hex digest (trimmed, any case)."""
    return bool(_SHA256.match(value.strip()))


def _letters_only(text: str) -> str:
    """Keep letters of any script (NFC), drop punctuation, digits, symbols and spaces."""
    text = unicodedata.normalize("NFC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch).startswith("L"))


def _need(value: str, what: str) -> str:
    if not value:
        raise SkippableError(f"{what} is empty after normalisation", field=what)
    return value


# ---- Meta -----------------------------------------------------------------------------------
def meta_email(raw: str) -> str:
    """Trim and lowercase (Meta's rule); refuse text that is not an address at all."""
    value = raw.strip().lower()
    if not _EMAIL.match(value):
        raise SkippableError("email is not an address", field="email")
    return value


@lru_cache(maxsize=100_000)
def _e164(raw: str, region: str) -> str:
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


def meta_phone(raw: str, region: str = "US") -> str:
    """Digits with the country code, no ``+`` and no leading zeros: ``16505551212``.

    National formats take the country from ``region`` (the record's country, else the
    workspace default), which the SDK's own normaliser never adds.
    """
    return _e164(raw, region)[1:]


def meta_name(raw: str) -> str:
    """FN/LN: lowercase, no punctuation or spaces, letters of any script kept as UTF-8."""
    return _need(_letters_only(raw), "name")


def meta_city(raw: str) -> str:
    """CT: lowercase with no punctuation, digits or spaces (``New York`` -> ``newyork``)."""
    return _need(_letters_only(raw), "city")


def meta_state(raw: str) -> str:
    """ST: the 2-letter code lowercase for US states; elsewhere lowercase letters only."""
    return _need(_letters_only(raw), "state")


def meta_zip(raw: str, country: str | None = None) -> str:
    """ZIP: lowercase, no spaces; US codes keep the first 5 digits (drop ZIP+4)."""
    value = _WS.sub("", raw).lower()
    if (country or "").upper() == "US" or re.match(r"^\d{5}-\d{4}$", value):
        value = value.split("-")[0][:5]
    return _need(value, "postal_code")


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


def _put(
    out: dict[str, str],
    dropped: dict[str, str],
    key: str,
    raw: str | None,
    normalise: Callable[[str], str],
    *,
    hashed: bool = True,
) -> None:
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


def _region_for(match: Mapping[str, str], default_region: str) -> str:
    country = match.get("country")
    if country and not is_sha256_hex(country):
        try:
            return normalise_country(country)
        except SkippableError:
            pass
    return default_region


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
    region = _region_for(match, default_region)
    _put(keys, dropped, "EMAIL", email, meta_email)
    _put(keys, dropped, "PHONE", phone, lambda v: meta_phone(v, region))
    _put(keys, dropped, "FN", match.get("first_name"), meta_name)
    _put(keys, dropped, "LN", match.get("last_name"), meta_name)
    _put(keys, dropped, "CT", match.get("city"), meta_city)
    _put(keys, dropped, "ST", match.get("state"), meta_state)
    _put(keys, dropped, "ZIP", match.get("postal_code"), lambda v: meta_zip(v, region))
    _put(keys, dropped, "COUNTRY", match.get("country"), meta_country)
    _put(keys, dropped, "GEN", match.get("gender"), _meta_gender)
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
    _put(keys, dropped, "EXTERN_ID", match.get("external_id"), str.strip, hashed=False)
    return result


# ---- Google (Data Manager API) --------------------------------------------------------------
GOOGLE_NAME_PREFIXES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame"})
GOOGLE_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "v", "phd", "md", "esq"})
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def google_email(raw: str) -> str:
    """Lowercase, remove all whitespace; on gmail.com/googlemail.com drop dots and ``+tag``."""
    value = _WS.sub("", raw).lower()
    if not _EMAIL.match(value):
        raise SkippableError("email is not an address", field="email")
    local, _, domain = value.rpartition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise SkippableError("email local part is empty", field="email")
    return f"{local}@{domain}"


def google_phone(raw: str, region: str = "US") -> str:
    """E.164 with the leading ``+`` (``(800)555-0100`` in the US -> ``+18005550100``)."""
    return _e164(raw, region)


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
    return _need(" ".join(tokens), "first_name")


def google_family_name(raw: str) -> str:
    """Lowercase, no punctuation, without a trailing suffix such as ``Jr.``; non-ASCII kept."""
    tokens = _name_tokens(raw)
    while len(tokens) > 1 and tokens[-1] in GOOGLE_NAME_SUFFIXES:
        tokens.pop()
    return _need(" ".join(tokens), "last_name")


def google_region_code(raw: str) -> str:
    """ISO-3166-1 alpha-2, upper case, sent in clear."""
    return normalise_country(raw)


def google_postal_code(raw: str) -> str:
    """Sent in clear; trimmed with inner whitespace collapsed, case kept as the user wrote it."""
    return _need(_WS.sub(" ", raw).strip(), "postal_code")


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
    region = _region_for(match, default_region)
    found: dict[str, str] = {}
    _put(found, result.dropped, "emailAddress", email, google_email)
    _put(found, result.dropped, "phoneNumber", phone, lambda v: google_phone(v, region))
    for key in ("emailAddress", "phoneNumber"):
        if key in found:
            result.identifiers.append({key: found[key]})
    address: dict[str, str] = {}
    _put(address, result.dropped, "givenName", match.get("first_name"), google_given_name)
    _put(address, result.dropped, "familyName", match.get("last_name"), google_family_name)
    _put(
        address,
        result.dropped,
        "regionCode",
        match.get("country"),
        google_region_code,
        hashed=False,
    )
    _put(
        address,
        result.dropped,
        "postalCode",
        match.get("postal_code"),
        google_postal_code,
        hashed=False,
    )
    if len(address) == 4:
        result.identifiers.append({"address": address})
    elif address:
        result.dropped["address"] = "address needs first and last name, country and postal code"
    return result
