"""``json_object``: its fast round trip through the C codec gives the checked copy exactly."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.errors import SkippableError
from connector.schema.jsonvalues import _plain_by_round_trip, _plain_json, json_object

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),  # NaN and infinities included: they must come out as null
    st.text(max_size=8),
)
keys = st.one_of(st.text(max_size=6), st.integers(-5, 5), st.booleans(), st.none(), st.floats())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=25,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, with -0.0 and 0.0 told apart and types compared (1 is not 1.0 nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return bool(a == b)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(keys, values, min_size=1, max_size=5))
def test_the_round_trip_gives_the_checked_copy(value: dict[Any, Any]) -> None:
    checked = _plain_json(value, "properties")
    fast = _plain_by_round_trip(value)
    if fast is not None:  # None: the value needs the checking path (NaN, a NaN key, ...)
        assert _same(fast, checked), (fast, checked)
    assert _same(json_object({"properties": value}, "properties"), checked)


def test_values_json_cannot_hold_keep_the_checking_path() -> None:
    odd = {"n": float("nan"), "inf": -math.inf, "t": (1, 2), "s": {1, 2}}
    assert _plain_by_round_trip(odd) is None
    out = json_object({"p": {"n": float("nan"), "t": (1, 2)}}, "p")
    assert out == {"n": None, "t": [1, 2]}
    assert json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("depth", [31, 40, 2_000])
def test_depth_and_size_caps_hold_on_either_path(depth: int) -> None:
    deep: dict[str, Any] = {}
    cur = deep
    for _ in range(depth):
        cur["x"] = {}
        cur = cur["x"]
    if depth <= 31:
        assert json_object({"p": deep}, "p") == deep
    else:
        with pytest.raises(SkippableError, match="nested deeper"):
            json_object({"p": deep}, "p")
    with pytest.raises(SkippableError, match="larger than"):
        json_object({"p": {"x": "a" * 70_000}}, "p")
