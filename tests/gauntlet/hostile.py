"""Hypothesis strategies for hostile outside data: odd unicode, huge values, wrong types,
missing and extra fields, injection strings."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from connector.schema.records import EVENT_FIELDS, PROFILE_FIELDS

INJECTIONS = (
    "'; DROP TABLE profiles; --",
    '" OR 1=1 --',
    "${jndi:ldap://127.0.0.1/a}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "../../../../etc/passwd",
    "\x00\x01\x02",
    "\u202egnp.exe",
    "\ud800",  # a lone surrogate: valid in a JSON escape, not encodable as UTF-8
    "a" * 100_000,
    "🧨" * 500,
    "NaN",
    "-Infinity",
    "1e309",
    "9" * 400,
    "0000-00-00T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "not@an@email",
    "+1 (555) 010-0000 ext. 99999999",
    "null",
    "true",
)

hostile_text = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.emails().map(lambda e: f"  {e.upper()}  "),
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    hostile_text,
)

json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def records(fields: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """Dicts with any subset of the canonical fields, hostile values, and extra keys."""
    known = st.dictionaries(st.sampled_from(fields), json_values, max_size=len(fields))
    extra = st.dictionaries(hostile_text, json_values, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, known, extra)


# plausible-looking values mixed in so that some records get past the first checks
plausible_profiles = st.fixed_dictionaries(
    {
        "source_id": st.one_of(st.text(min_size=1, max_size=30), st.integers()),
        "email": st.one_of(st.emails(), hostile_text),
        "updated_at": st.one_of(st.just("2024-02-30T10:00:00Z"), st.just("2024-01-01"), scalars),
        "consent": st.one_of(
            st.fixed_dictionaries({"email": st.sampled_from(["granted", "denied", "x", ""])}),
            json_values,
        ),
        "traits": json_values,
    }
)
plausible_events = st.fixed_dictionaries(
    {
        "source_event_id": st.one_of(st.text(min_size=1, max_size=30), st.integers()),
        "type": st.one_of(st.sampled_from(["order_completed", "Order Completed"]), hostile_text),
        "occurred_at": st.one_of(st.just("2024-01-01T00:00:00+14:00"), scalars),
        "email": st.one_of(st.emails(), hostile_text),
        "revenue": scalars,
        "currency": scalars,
        "properties": json_values,
    }
)
profile_records = st.one_of(records(PROFILE_FIELDS), plausible_profiles)
event_records = st.one_of(records(EVENT_FIELDS), plausible_events)


# ---- issue 20: the edges the first strategies did not reach --------------------------------

_OFFSETS = st.one_of(
    st.sampled_from(["Z", "+00:00", "-05:00", "+05:00", "+14:00", "-12:00", "-00:01"]),
    st.builds(
        lambda h, m, sign: f"{sign}{h:02d}:{m:02d}",
        st.integers(0, 23),
        st.integers(0, 59),
        st.sampled_from("+-"),
    ),
)
edge_timestamps = st.one_of(
    st.builds(
        lambda d, o: f"{d}T23:59:59.999999{o}",
        st.sampled_from(["9999-12-31", "9999-12-30", "0001-01-01", "0001-01-02", "1970-01-01"]),
        _OFFSETS,
    ),
    st.builds(
        lambda d, o: f"{d}T00:00:00{o}",
        st.sampled_from(["0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29"]),
        _OFFSETS,
    ),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True),
)


def nested_json(depth: int, kind: str) -> str:
    """A JSON text nested ``depth`` levels deep: arrays, objects, or both in turn."""
    if kind == "array":
        return "[" * depth + "]" * depth
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return '{"a":[' * (depth // 2) + "1" + "]}" * (depth // 2)


nesting = st.builds(
    nested_json,
    st.integers(min_value=0, max_value=6_000),
    st.sampled_from(["array", "object", "mixed"]),
)

# identifiers as exports spell them: accents, full width, IDN, invisible and replacement marks
odd_identifiers = st.one_of(
    st.sampled_from(
        [
            "renée@example.org",
            "renèe@example.org",
            "søren.dubois@example.org",
            "jürgen@bücher.example",
            "info@xn--bcher-kva.example",
            "".join(chr(ord(c) + 0xFEE0) for c in "john@example.com"),
            "ren\ufffde@example.org",
            "\ufeffa@example.org",
            "a\u200b@example.org",
            "+1 212 555 0100 ext. 12",
            "+1 212 555 0100 x34",
        ]
    ),
    st.emails(),
)
encodings = st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"])
