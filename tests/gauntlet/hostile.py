"""Hypothesis strategies for hostile outside data: odd unicode, huge values, wrong types,
missing and extra fields, injection strings."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

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

PROFILE_FIELDS = (
    "source_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "city",
    "postal_code",
    "country",
    "created_at",
    "updated_at",
    "consent",
    "consent_at",
    "ids",
    "traits",
)
EVENT_FIELDS = (
    "source_event_id",
    "type",
    "occurred_at",
    "email",
    "phone",
    "ids",
    "revenue",
    "currency",
    "properties",
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
