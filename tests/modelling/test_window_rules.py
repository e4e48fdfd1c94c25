"""Window rules: the syntax, its refusals, and what each term means over a profile's events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connector.modelling.expr import ExpressionError
from connector.modelling.realtime_rules import evaluate_realtime
from connector.modelling.rules import check_rules
from connector.modelling.settings import ModelSettings, RuleSegment
from connector.modelling.windows import parse_window_rule, window_durations
from connector.store.datastore import DataStore

NOW = datetime(2026, 12, 1, 12, 0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DataStore]:
    data = DataStore(tmp_path / "data.duckdb")
    con = data.con
    for pid, country in (("a", "GB"), ("b", "FR"), ("c", "GB"), ("d", "GB")):
        con.execute("INSERT INTO profiles (profile_id, country) VALUES (?, ?)", [pid, country])
    rows = [
        ("a", "product_viewed", 1, "coats", None),
        ("a", "product_viewed", 30, "coats", None),
        ("a", "product_viewed", 150, "coats", None),
        ("a", "product_viewed", 200, "coats", None),  # outside 7 days
        ("b", "product_viewed", 2, "coats", None),
        ("b", "product_viewed", 3, "hats", None),
        ("b", "added_to_cart", 3, None, None),
        ("c", "added_to_cart", 5, None, None),
        ("c", "order_completed", 2, None, 120.0),
        ("d", "order_completed", 10, None, 30.0),
        ("d", "added_to_cart", 4, None, None),
    ]
    for n, (pid, etype, hours, cat, revenue) in enumerate(rows):
        con.execute(
            "INSERT INTO events (event_id, source, source_event_id, type, occurred_at, id_sig, "
            "revenue, properties, profile_id) VALUES (?, 's', ?, ?, ?, 'x', ?, ?, ?)",
            [f"s:{n}", str(n), etype, NOW - timedelta(hours=hours), revenue,
             json.dumps({"category": cat} if cat else {}), pid],
        )  # fmt: skip
    yield data
    data.close()


def _members(store: DataStore, expression: str, ids: list[str] | None = None) -> set[str]:
    settings = ModelSettings(
        holdout_share=0.0,
        rule_segments=(RuleSegment(id="r", name="R", expression=expression, realtime=True),),
    )
    members, failures = evaluate_realtime(store.con, settings, NOW, ids)
    assert failures == {}
    return set(members["profile_id"])


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('count(event = "product_viewed" and category = "coats", 7d) >= 3', {"a"}),
        ("count(product_viewed, 7d) >= 2", {"a", "b"}),
        ('count(product_viewed, 2h) >= 1 and country = "GB"', {"a"}),
        ("added_to_cart within 1d and no order_completed since added_to_cart", {"b", "d"}),
        ("no order_completed within 1d", {"a", "b"}),
        ("revenue(order_completed, 30d) > 100", {"c"}),
        ("hours_since(order_completed) >= 10", {"d"}),
        ("order_completed since added_to_cart", {"c"}),
        ('rt_top_category_7d = "coats" and rt_views_7d >= 2', {"a", "b"}),
        # a window is (now - 4h, now]: d's cart add exactly 4 hours ago is out
        ('(event = "added_to_cart" or event = "order_completed") within 4h', {"b", "c"}),
        ("not (product_viewed within 7d)", {"c", "d"}),
    ],
)
def test_window_terms(store: DataStore, expression: str, expected: set[str]) -> None:
    assert _members(store, expression) == expected


def test_only_the_targets_are_evaluated(store: DataStore) -> None:
    assert _members(store, "count(product_viewed, 7d) >= 2", ["b", "c"]) == {"b"}


def test_values_are_bound_never_spliced(store: DataStore) -> None:
    """A quote in a value is a value: the rule matches nothing and the store is intact."""
    hostile = 'count(event = "x\' OR 1=1; DROP TABLE events; --", 7d) >= 0'
    assert _members(store, hostile) == {"a", "b", "c", "d"}  # count 0 >= 0 for everyone
    assert store.count("events") == 11


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("count(product_viewed) >= 3", "expected ','"),
        ("count(product_viewed, 7) >= 3", "duration"),
        ("count(product_viewed, 0d) >= 3", "out of range"),
        ("eval(product_viewed, 7d)", "not a window function"),
        ("product_viewed within", "ends too early"),
        ("__import__ within 1d", "unexpected character"),
        ("count(category = coats, 7d) > 1", None),  # parses; fails at compile time
        ("x" * 2001, "longer than"),
    ],
)
def test_refused_syntax(expression: str, message: str | None) -> None:
    if message is None:
        parse_window_rule(expression)
        return
    with pytest.raises(ExpressionError, match=message):
        parse_window_rule(expression)


def test_unknown_names_fail_the_rule_alone(store: DataStore) -> None:
    settings = ModelSettings(
        rule_segments=(
            RuleSegment(id="bad", name="Bad", realtime=True, expression="nosuch > 1"),
            RuleSegment(id="ok", name="Ok", realtime=True, expression="product_viewed within 1d"),
        )
    )
    members, failures = evaluate_realtime(store.con, settings, NOW)
    assert set(failures) == {"bad"}
    assert "unknown name 'nosuch'" in failures["bad"]
    assert set(members["segment_id"]) == {"ok"}


def test_config_and_check_refuse_bad_rules() -> None:
    with pytest.raises(ExpressionError, match="duration"):
        RuleSegment(id="r", name="R", realtime=True, expression="count(x, 7) > 1")
    with pytest.raises(
        ExpressionError, match="set realtime = true"
    ):  # windows need realtime = true
        RuleSegment(id="r", name="R", expression="count(x, 7d) > 1")
    settings = ModelSettings(
        rule_segments=(
            RuleSegment(id="r", name="R", realtime=True, expression="count(x, 7d) > clv_typo"),
        )
    )
    assert check_rules(settings) == [
        "rule segment 'r' (R): unknown name 'clv_typo': not a trait, feature or score column"
    ]


def test_window_durations() -> None:
    node = parse_window_rule("count(a, 7d) > 1 and no b within 1h or c within 30m")
    assert window_durations(node) == {7 * 86400, 3600, 1800}
