"""The rule language: correct results, and clear refusals for hostile input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from connector.errors import ConfigError
from connector.modelling.expr import MAX_DEPTH, ExpressionError, evaluate, parse
from connector.modelling.settings import ModelSettings, RuleSegment

FRAME = pd.DataFrame(
    {
        "churn_risk": [0.8, 0.2, None, 0.9],
        "clv_tier": ["high", "high", "low", "low"],
        "orders_90d": [3.0, 0.0, 1.0, 2.0],
        "is_vip": [True, False, False, True],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('churn_risk > 0.7 and clv_tier == "high"', [True, False, False, False]),
        ("churn_risk > 0.7 or orders_90d >= 1", [True, False, True, True]),
        ("not (clv_tier == 'low')", [True, True, False, False]),
        # a missing value compares false, so "not (missing < 0.5)" is true
        ("orders_90d != 0 and not churn_risk < 0.5", [True, False, True, True]),
        ("is_vip", [True, False, False, True]),
        ("is_vip == true and churn_risk > -1", [True, False, False, True]),
        ("churn_risk <= 0.2", [False, True, False, False]),  # missing compares false
        ("1e0 > 0.5", [True, True, True, True]),
    ],
)
def test_evaluates(text: str, expected: list[bool]) -> None:
    assert evaluate(text, FRAME).tolist() == expected


HOSTILE = [
    '__import__("os").system("rm -rf /")',
    "clv_tier.__class__",
    "churn_risk.real > 0",
    "exec('print(1)')",
    "eval('1')",
    "open('/etc/passwd')",
    "clv_tier[0] == 'h'",
    "lambda: 0",
    "churn_risk > 1; import os",
    "import os",
    "[x for x in ()]",
    "churn_risk > 0 if True else 1",
    "{'a': 1}",
    "churn_risk @ 2",
    "churn_risk > 0 \\\n and 1",
    "`ls`",
    "$(whoami)",
    "f'{churn_risk}'",
    "churn_risk > 0.7 and",
    "((churn_risk > 0.7)",
    "churn_risk > 0.7)",
    "",
    "   ",
    "unknown_trait > 1",
    "and or not",
    "- churn_risk",
    "'unterminated",
    "churn_risk ** 2 > 1",
    "x" * 5000,
    "(" * 500 + "churn_risk > 0" + ")" * 500,
    "not " * 500 + "is_vip",
    "churn_risk > 0\x00",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_rejects_hostile_input_with_clear_error(text: str) -> None:
    with pytest.raises(ExpressionError) as err:
        evaluate(text, FRAME)
    message = str(err.value)
    assert message
    assert len(message) < 300
    assert isinstance(err.value, ConfigError)


def test_depth_limit_is_stated() -> None:
    with pytest.raises(ExpressionError, match=str(MAX_DEPTH)):
        parse("(" * (MAX_DEPTH + 5) + "is_vip" + ")" * (MAX_DEPTH + 5), FRAME.columns)


def test_type_mismatch_is_an_expression_error() -> None:
    with pytest.raises(ExpressionError, match="compare"):
        evaluate("clv_tier > 3", FRAME)


def test_non_string_rejected() -> None:
    with pytest.raises(ExpressionError):
        parse(42, FRAME.columns)  # type: ignore[arg-type]


def test_result_is_boolean_array() -> None:
    out = evaluate("orders_90d > 0", FRAME)
    assert out.dtype == np.bool_


def test_rule_segment_syntax_checked_at_config_load() -> None:
    ok = RuleSegment(id="r", name="R", expression="anything_goes > 1")
    assert ModelSettings(rule_segments=(ok,)).rule_segments[0].id == "r"
    with pytest.raises((ValidationError, ExpressionError)):
        RuleSegment(id="r", name="R", expression="__import__('os')")
