from datetime import UTC, datetime

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import SkippableError
from connector.schema import normalise_country, normalise_email, normalise_phone, parse_timestamp
from connector.schema.normalise import _plain


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  John.Doe@Example.COM ", "john.doe@example.com"),
        ("MIXED@Case.Org", "mixed@case.org"),
        ("søren@example.org", "søren@example.org"),
    ],
)
def test_email_is_trimmed_and_lowercased(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize("raw", ["not-an-email", "a@b", "@example.com", "a@@example.com", "  "])
def test_invalid_email_is_rejected_with_reason(raw: str) -> None:
    with pytest.raises(SkippableError, match="email"):
        normalise_email(raw)


_LABEL = st.from_regex(
    r"[a-z0-9][a-z0-9-]{0,64}[a-z0-9]?|[a-z]{1,3}|-[a-z]|test|local", fullmatch=True
)
_ADDRESS = st.builds(
    lambda local, labels: local + "@" + ".".join(labels),
    st.from_regex(r"[a-z0-9_+.\-]{0,70}", fullmatch=True),
    st.lists(_LABEL, min_size=0, max_size=5),
)


@settings(max_examples=1500, deadline=None)
@given(_ADDRESS)
def test_the_fast_path_for_plain_addresses_agrees_with_the_validator(raw: str) -> None:
    """Plain ASCII addresses skip ``email_validator``: only those it returns unchanged."""
    try:
        expected: str | None = validate_email(
            raw, check_deliverability=False, allow_smtputf8=True
        ).normalized.lower()
    except EmailNotValidError:
        expected = None
    if _plain(raw):
        assert expected == raw


@pytest.mark.parametrize("raw", ["person1@example.org", "a.b+c_d-e@mail.co.uk", "x@1.io"])
def test_common_addresses_take_the_fast_path(raw: str) -> None:
    assert _plain(raw)
    assert normalise_email(raw.upper()) == raw


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("415.555.0132", "US", "+14155550132"),
        ("+1 415 555 0132", "GB", "+14155550132"),
        ("07400 123456", "GB", "+447400123456"),
        ("+44 7400 123456", "US", "+447400123456"),
        ("0044 7400 123456", "US", "+447400123456"),
    ],
)
def test_phone_formats_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalise_phone(raw, region) == expected


@pytest.mark.parametrize("raw", ["12", "phone", "+44 0000"])
def test_invalid_phone_is_rejected(raw: str) -> None:
    with pytest.raises(SkippableError, match="phone"):
        normalise_phone(raw, "GB")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("United Kingdom", "GB"),
        ("EIRE", "IE"),
        ("usa", "US"),
        ("DEU", "DE"),
        ("fr", "FR"),
        ("RSA", "ZA"),
    ],
)
def test_country_to_alpha2(raw: str, expected: str) -> None:
    assert normalise_country(raw) == expected


def test_unknown_country_is_reported() -> None:
    with pytest.raises(SkippableError, match="not an ISO-3166"):
        normalise_country("Unspecified")


@pytest.mark.parametrize(
    "raw",
    [
        "2011-12-09T12:50:00Z",
        "2011-12-09T13:50:00+01:00",
        "2011-12-09 12:50:00",
        1323435000,
        1323435000000,
        "1323435000000",
    ],
)
def test_timestamps_become_utc(raw: object) -> None:
    assert parse_timestamp(raw) == datetime(2011, 12, 9, 12, 50, tzinfo=UTC)


@pytest.mark.parametrize("raw", ["yesterday", "", None, True, [1]])
def test_bad_timestamp_is_rejected(raw: object) -> None:
    with pytest.raises(SkippableError):
        parse_timestamp(raw)


@pytest.mark.parametrize("raw", [10**400, -(10**400), float("inf"), float("nan"), "9" * 500])
def test_absurd_timestamps_are_rejected_not_crashing(raw: object) -> None:
    # found by the gauntlet's hypothesis run: a huge integer overflowed the ms→s division
    with pytest.raises(SkippableError):
        parse_timestamp(raw)
