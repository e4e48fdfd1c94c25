"""Hashing rules against the platforms' published normalisation examples and tricky inputs."""

from __future__ import annotations

import hashlib

import pytest

from cdp_google_ads import identifiers as google
from cdp_meta import identifiers as meta
from connector.errors import SkippableError
from connector.schema import hashed_ids


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Hashes verified in facts/ads-segment-scheduling.md 1.6 (computed from Meta's own examples).
JOHN = "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f"
PHONE_16505551212 = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"


class TestMeta:
    @pytest.mark.parametrize(
        "raw", ["john.doe@example.com", "  John.Doe@Example.COM ", "JOHN.DOE@EXAMPLE.COM\t"]
    )
    def test_email_trim_lowercase(self, raw: str) -> None:
        ids = meta.meta_identifiers(raw, None, {})
        assert ids.keys["EMAIL"] == JOHN

    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("+1 (650) 555-1212", "US"),
            ("650-555-1212", "US"),  # national format: country code from the default region
            ("(650) 555 1212", "US"),
            ("001 650 555 1212", "GB"),  # international prefix 00
            ("16505551212", "US"),
        ],
    )
    def test_phone_digits_with_country_code(self, raw: str, region: str) -> None:
        assert meta.meta_phone(raw, region) == "16505551212"
        ids = meta.meta_identifiers(None, raw, {}, default_region=region)
        assert ids.keys["PHONE"] == PHONE_16505551212

    def test_phone_region_from_record_country(self) -> None:
        ids = meta.meta_identifiers(None, "020 7946 0958", {"country": "United Kingdom"})
        assert ids.keys["PHONE"] == sha("442079460958")
        assert meta.meta_phone("06 12 34 56 78", "FR") == "33612345678"  # leading zero dropped

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Mary", "mary"),
            ("  JOSÉ ", "josé"),
            ("Jöhn", "jöhn"),  # the SDK would send "jhn"
            ("O'Brien", "obrien"),
            ("Smith-Jones", "smithjones"),
            ("Zoë", "zoë"),
            ("Ёлка", "ёлка"),
        ],
    )
    def test_names_keep_utf8_letters_drop_punctuation(self, raw: str, expected: str) -> None:
        assert meta.meta_name(raw) == expected

    def test_decomposed_accent_is_composed_before_hashing(self) -> None:
        assert meta.meta_name("Jose\u0301") == "josé"  # NFD input hashes like NFC

    def test_city_state_zip_country(self) -> None:
        assert meta.meta_city("New York") == "newyork"
        assert meta.meta_city("St. Louis") == "stlouis"
        assert meta.meta_state("CA") == "ca"
        assert meta.meta_zip("94025-1234", "US") == "94025"
        assert meta.meta_zip("SW1A 1AA", "GB") == "sw1a1aa"
        assert meta.meta_country("United States") == "us"
        assert meta.meta_country("GBR") == "gb"

    def test_full_row_and_schema_filler(self) -> None:
        ids = meta.meta_identifiers(
            "a@b.co",
            "+442079460958",
            {
                "first_name": "Ann",
                "last_name": "Lee",
                "postal_code": "94025",
                "country": "US",
                "gender": "Female",
                "birth_date": "1990-3-7",
                "external_id": "Cust-001",
            },
        )
        assert ids.keys["FN"] == sha("ann")
        assert ids.keys["GEN"] == sha("f")
        assert ids.keys["DOBM"] == sha("03")
        assert ids.keys["DOBD"] == sha("07")
        assert ids.keys["EXTERN_ID"] == "Cust-001"  # not hashed, case kept
        assert ids.row(("EMAIL", "CT", "FN")) == [sha("a@b.co"), "", sha("ann")]

    def test_prehashed_values_pass_through(self) -> None:
        upper = JOHN.upper()
        ids = meta.meta_identifiers(upper, PHONE_16505551212, {"first_name": sha("mary")})
        assert ids.keys == {"EMAIL": JOHN, "PHONE": PHONE_16505551212, "FN": sha("mary")}

    def test_bad_values_are_dropped_with_reason(self) -> None:
        ids = meta.meta_identifiers("not-an-email", "12", {"first_name": "!!!"})
        assert ids.keys == {}
        assert set(ids.dropped) == {"EMAIL", "PHONE", "FN"}
        assert all("@" not in reason for reason in ids.dropped.values())


class TestGoogle:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            # Data Manager API "Format user data" and quickstart examples.
            ("cloudy.sanfrancisco+shopping@gmail.com", "cloudysanfrancisco@gmail.com"),
            ("user.name+NYC@Example.com", "user.name+nyc@example.com"),
            ("DanaM@example.com", "danam@example.com"),
            (" AlexJ@cymbalgroup.com", "alexj@cymbalgroup.com"),
            ("quinn@CYMBALGROUP.com", "quinn@cymbalgroup.com"),
            ("baklavainthebalkans@gmail.com  ", "baklavainthebalkans@gmail.com"),
            ("cloudySanFrancisco@GMAIL.com", "cloudysanfrancisco@gmail.com"),
            ("J.Doe@googlemail.com", "jdoe@googlemail.com"),
            ("john. doe @example.com", "john.doe@example.com"),  # intermediate whitespace
        ],
    )
    def test_email(self, raw: str, expected: str) -> None:
        assert google.google_email(raw) == expected

    @pytest.mark.parametrize(
        ("raw", "region", "expected"),
        [
            ("(800)555-0100", "US", "+18005550100"),  # the documented example
            ("+1 800 555 0100", "DE", "+18005550100"),
            ("020 7946 0958", "GB", "+442079460958"),
            ("0044 20 7946 0958", "US", "+442079460958"),
        ],
    )
    def test_phone_e164_with_plus(self, raw: str, region: str, expected: str) -> None:
        assert google.google_phone(raw, region) == expected

    def test_phone_hash_differs_from_meta(self) -> None:
        g = google.google_identifiers(None, "650-555-1212", {})
        assert g.identifiers == [{"phoneNumber": sha("+16505551212")}]
        assert sha("+16505551212") != PHONE_16505551212

    @pytest.mark.parametrize(
        ("given", "family", "g", "f"),
        [
            ("Mrs. Jane", "Doe Jr.", "jane", "doe"),
            ("  JOSÉ  Luis ", "García-Márquez", "josé luis", "garcíamárquez"),
            ("Dr Ann", "O'Neil III", "ann", "oneil"),
        ],
    )
    def test_names(self, given: str, family: str, g: str, f: str) -> None:
        assert google.google_given_name(given) == g
        assert google.google_family_name(family) == f

    def test_address_needs_all_four_parts(self) -> None:
        full = google.google_identifiers(
            "a@b.co",
            None,
            {"first_name": "Ann", "last_name": "Lee", "country": "gb", "postal_code": "SW1A 1AA"},
        )
        assert full.identifiers[-1] == {
            "address": {
                "givenName": sha("ann"),
                "familyName": sha("lee"),
                "regionCode": "GB",
                "postalCode": "SW1A 1AA",
            }
        }
        partial = google.google_identifiers("a@b.co", None, {"first_name": "Ann"})
        assert partial.identifiers == [{"emailAddress": sha("a@b.co")}]
        assert "address" in partial.dropped

    def test_prehashed(self) -> None:
        g = google.google_identifiers(JOHN.upper(), None, {})
        assert g.identifiers == [{"emailAddress": JOHN}]


def test_is_sha256_hex() -> None:
    assert hashed_ids.is_sha256_hex(JOHN)
    assert hashed_ids.is_sha256_hex(f" {JOHN.upper()} ")
    assert not hashed_ids.is_sha256_hex(JOHN[:-1])
    assert not hashed_ids.is_sha256_hex("z" * 64)


def test_empty_name_is_skippable() -> None:
    with pytest.raises(SkippableError):
        meta.meta_name("...")
