"""The DuckDB → Spark translation, checked on its text (no JVM; the default suite).

What the translated SQL *computes* is checked against DuckDB by the parity suite
(`test_spark_parity.py`, ``pytest -m spark``)."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlglot

from connector.config.models import AppConfig, EngineSettings
from connector.engine import model_backend, warehouse_path
from connector.engine.translate import to_spark
from connector.modelling.backend import DuckBackend
from connector.modelling.features import baskets_sql, feature_sql, items_sql, top_categories_sql


def _spark(sql: str, params: list[object] | None = None) -> str:
    return to_spark(sql, params).upper()


def test_day_differences_compare_dates_not_24_hour_spans() -> None:
    out = _spark("SELECT date_diff('day', a, b) FROM t")
    assert "DATEDIFF(CAST(B AS DATE), CAST(A AS DATE))" in out
    # what SQLGlot alone writes: Spark counts 24-hour spans there, off by one (issue 15)
    plain = sqlglot.transpile("SELECT date_diff('day', a, b) FROM t", "duckdb", "spark")[0]
    assert "CAST" not in plain.upper()


def test_second_differences_count_boundaries_in_epoch_seconds() -> None:
    out = _spark("SELECT date_diff('second', a, b) / 86400.0 FROM t")
    assert "(UNIX_SECONDS(CAST(B AS TIMESTAMP)) - UNIX_SECONDS(CAST(A AS TIMESTAMP)))" in out
    assert "CAST(86400.0 AS DOUBLE)" in out, "decimal literals stay floating point"


def test_parameters_are_bound_as_literals() -> None:
    cutoff = datetime(2024, 5, 6, 23, 59, 59, 999999)
    out = _spark("SELECT * FROM t WHERE ts < $1::TIMESTAMP AND c = $2", [cutoff, "O'Neill"])
    assert "'2024-05-06 23:59:59.999999'" in out
    assert "'O\\'NEILL'" in out or "'O''NEILL'" in out
    assert "$" not in out


def test_list_and_json_functions_have_spark_spellings() -> None:
    out = _spark(
        "SELECT len(b), list_sum(b), json_valid(p), "
        """from_json(p, '[{"category":"VARCHAR","quantity":"DOUBLE"}]') FROM t"""
    )
    assert "SIZE(B)" in out
    assert "AGGREGATE(B" in out
    assert "JSON_VALID" not in out
    assert "LIST_SUM" not in out
    assert "ARRAY<STRUCT<`CATEGORY`: STRING, `QUANTITY`: DOUBLE>>" in out


def test_asof_join_becomes_latest_match_per_row() -> None:
    out = _spark(
        "SELECT o.rid, r.amount FROM rets r "
        "ASOF JOIN ords o ON o.profile_id = r.profile_id AND r.occurred_at >= o.occurred_at"
    )
    assert "ASOF JOIN" not in out
    assert "ROW_NUMBER() OVER (PARTITION BY R._ASOF_ROW ORDER BY O.OCCURRED_AT DESC)" in out
    assert "_ASOF_RANK = 1" in out


def test_the_whole_feature_query_translates() -> None:
    sql = feature_sql(["Shoes", "Home"], 30.0, None, None)
    out = _spark(sql, [datetime(2025, 1, 1), "Shoes", "Home"])
    for duck_only in ("ASOF JOIN", "JSON_VALID", "LIST_SUM", "$1", "ROW_NUMBER() OVER ()"):
        assert duck_only not in out, duck_only
    assert sqlglot.parse_one(out, read="spark") is not None


def test_the_parsed_product_queries_translate() -> None:
    """items_sql ends in `<> ''`, which SQLGlot's tokenizer misread after a `$1`."""
    for sql in (items_sql(), baskets_sql(), top_categories_sql("_model_items")):
        out = _spark(sql, [datetime(2025, 1, 1), 8])
        assert "$1" not in out
        assert sqlglot.parse_one(out, read="spark") is not None


def test_engine_settings_default_to_duckdb_and_refuse_unknown_kinds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = AppConfig.model_validate({"engine": {"kind": "spark", "master": "sc://h:15002"}})
    assert config.engine.master == "sc://h:15002"
    assert AppConfig().engine.kind == "duckdb"
    assert warehouse_path(AppConfig().engine, tmp_path) == str(tmp_path / "warehouse")
    with pytest.raises(ValueError, match="kind"):
        EngineSettings.model_validate({"kind": "flink"})
    assert isinstance(model_backend(AppConfig().engine, tmp_path, None), DuckBackend)  # type: ignore[arg-type]
