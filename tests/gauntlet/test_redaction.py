"""The redactor on the text platforms really send back: non-ASCII and IDN addresses, base64 and
partial token echoes, URL userinfo; and what it must leave alone: dates, epoch-millisecond day
folders, ids, masked addresses. Control characters come out inert.
"""

from __future__ import annotations

import base64
import string
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.gauntlet import figures

from connector.redaction import mask_phone, redact, register_secret

KEY = "pk_REDACTtest9f3a2c1b7d5e4a6f80"
PASSWORD = "hunter2-Q9x7Zk3m"
register_secret(KEY)
register_secret(PASSWORD)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


# (text, what must not survive)
LEAKS = [
    ("contact søren.dubois@example.com failed", "søren.dubois"),
    ("contact user@bücher.de failed", "bücher.de"),
    ("contact renée.o'neil@exämple.fr failed", "exämple"),
    ("contact user@xn--bcher-kva.de failed", "xn--bcher-kva"),
    ("contact 用户@例子.广告 failed", "用户@"),
    ("contact \uff4a\uff4f\uff48\uff4e\uff20example\uff0ecom failed", "\uff4a\uff4f\uff48\uff4e"),
    ("Authorization: Basic dXNlcjpzZWNyZXQ= refused", "dXNlcjpzZWNyZXQ"),
    ("auth=Basic%20dXNlcjpzZWNyZXQ%3D refused", "dXNlcjpzZWNyZXQ"),
    ("credentials dXNlcjpzZWNyZXQ= refused", "dXNlcjpzZWNyZXQ"),
    (f"header {_b64(KEY)} refused", _b64(KEY).rstrip("=")),
    (f"header {base64.urlsafe_b64encode(KEY.encode()).decode()}", KEY[5:20]),
    (f"basic {_b64('api:' + KEY)} refused", _b64("api:" + KEY)[:12]),
    (f"opaque {_b64('api:' + KEY)} refused", _b64("api:" + KEY)[:12]),
    (f"key {KEY[:6]}...{KEY[-4:]} is invalid", f"{KEY[:6]}...{KEY[-4:]}"),
    (f"key {KEY[:6]}…{KEY[-4:]} is invalid", f"{KEY[:6]}…{KEY[-4:]}"),
    (f"key ending in {KEY[-8:]} is invalid", KEY[-8:]),
    (f"token starting with {KEY[:10]}", KEY[:10]),
    ("api key ending in wxyz was revoked", "wxyz"),
    (f"fragment {KEY[8:20]} echoed", KEY[8:20]),
    ("postgresql://cdp:s3cr3t-pw@db.internal:5432/cdp", "s3cr3t-pw"),
    (f"https://user:{PASSWORD}@proxy.example.com/", PASSWORD),
    ('{"authorization": "Zm9vOmJhcg=="}', "Zm9vOmJhcg"),
    ("x-api-key: 0123456789abcdef refused", "0123456789abcdef"),
    ("call +44 20 7946 0958 now", "7946 0958"),
    ("GET /v1/profiles?email=ann.lee%40example.org 404", "ann.lee"),
    ("call 415 555 0123 on 2026-11-30", "555 0123"),
    ("from 2026-11-30T10:00:00+05:00 phone +1 (415) 555-0123", "555-0123"),
]

# (text, what must survive unchanged)
KEEPS = [
    "segment-logs/src-1/1700000000000/1700003600000.0a1b2c3d.gz",
    "day folder 1764460800000 read",
    "2026-11-30",
    "2026-11-30 12:00:00",
    "2026-11-30T23:59:59.123456+05:30",
    "30.11.2026 12:00",
    "11/30/2026 09:15",
    "run r20261130T120000-a1b2c3 of p_1a2b3c4d5e6f7a8b",
    "completed_with_rejects in 12.5 s, 1234 records",
    "j***@example.org",
    "the token expired; the job is ending in failure",
    "Basic settings are fine",
]


@pytest.mark.parametrize(("text", "secret"), LEAKS)
def test_leaks_are_masked(text: str, secret: str) -> None:
    out = redact(text)
    figures.record("pii", "redactor", {"cases": 1, "leaks": int(secret in out)})
    assert secret not in out, out


@pytest.mark.parametrize("text", KEEPS)
def test_dates_paths_and_ids_are_left_alone(text: str) -> None:
    out = redact(text)
    figures.record("pii", "redactor", {"cases": 1, "false_positives": int(out != text)})
    assert out == text


def test_control_characters_are_inert() -> None:
    out = redact("id \x1b[2J\x1b]0;pwned\x07 \x9b31m end\r\nnext\tcol")
    assert not {"\x1b", "\x07", "\x9b", "\r"} & set(out)
    assert "\\x1b[2J" in out
    assert "\nnext\tcol" in out


_LOCAL = st.text(string.ascii_letters + "øéüßçñå" + "用户", min_size=1, max_size=12)
_LABEL = st.text(string.ascii_lowercase + "äöüéø", min_size=1, max_size=10)
_TLD = st.sampled_from(["de", "com", "fr", "广告", "рф", "xn--p1ai"])


@settings(max_examples=150, deadline=None)
@given(local=_LOCAL, label=_LABEL, tld=_TLD, idn=st.booleans())
def test_any_unicode_or_idn_address_is_masked(local: str, label: str, tld: str, idn: bool) -> None:
    domain = f"{label}.{tld}"
    if idn:
        domain = domain.encode("idna").decode() if all(c.isascii() for c in tld) else domain
    address = f"{local}@{domain}"
    out = redact(f"HubSpot: contact {address} already exists")
    figures.record("pii", "redactor", {"cases": 1, "leaks": int(address in out)})
    assert address not in out, out
    assert "@" not in out, out


@settings(max_examples=150, deadline=None)
@given(
    ms=st.integers(
        int(datetime(2001, 9, 10, tzinfo=UTC).timestamp() * 1000),
        int(datetime(2036, 1, 1, tzinfo=UTC).timestamp() * 1000),
    ),
    offset=st.integers(-14 * 60, 14 * 60),
)
def test_day_folders_and_timestamps_are_not_phones(ms: int, offset: int) -> None:
    day_ms = ms - ms % 86_400_000
    when = datetime.fromtimestamp(ms / 1000, UTC).astimezone(
        __import__("datetime").timezone(timedelta(minutes=offset))
    )
    text = f"archive/segment-logs/src/{day_ms}/{ms}.abc.gz at {when.isoformat()} ({when:%Y-%m-%d})"
    out = redact(text)
    figures.record("pii", "redactor", {"cases": 1, "false_positives": int(out != text)})
    assert out == text


@settings(max_examples=150, deadline=None)
@given(
    area=st.integers(201, 989),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
    shape=st.sampled_from(["+1 {a} {e} {l}", "({a}) {e}-{l}", "+1{a}{e}{l}", "{a}.{e}.{l}"]),
)
def test_phones_next_to_dates_are_masked(area: int, exchange: int, line: int, shape: str) -> None:
    phone = shape.format(a=area, e=exchange, l=f"{line:04d}")
    out = redact(f"2026-11-30 contact {phone} 2026-12-01T00:00:00Z")
    figures.record("pii", "redactor", {"cases": 1, "leaks": int(phone in out)})
    assert phone not in out, out
    assert "[phone]" in out
    assert "2026-11-30" in out
    assert "2026-12-01T00:00:00Z" in out


def test_a_masked_phone_stays_readable() -> None:
    """``profiles explain`` masks a phone as "+44 *** 56"; unspaced, the redactor took it for
    a truncated secret and printed "+[secret]"."""
    assert redact(f"phone={mask_phone('+447911123456')}") == "phone=+44 *** 56"
