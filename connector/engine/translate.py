"""DuckDB SQL → Spark SQL: the feature SQL is written once (for DuckDB) and translated here.

Why SQLGlot and not Ibis: our feature layer already *is* SQL, tested and tuned on DuckDB;
SQLGlot parses that text into a tree and prints it in Spark's dialect, so there is one
definition and no second expression API to keep in step. Ibis would mean rewriting every
feature as Python expressions (a second definition until the SQL is gone) and would still
compile to SQL through SQLGlot underneath. Where the dialects differ in *meaning*, not just in
spelling, a transform below rewrites the tree, and the parity suite (``pytest -m spark``)
checks every feature against DuckDB:

- ``date_diff('day', a, b)`` counts day boundaries crossed in DuckDB; Spark's ``datediff``
  on timestamps counts whole 24-hour spans (off by one for most customers), so both sides are
  cast to DATE first. ``date_diff('second', …)`` likewise counts second boundaries: it becomes a
  difference of ``unix_seconds`` (the session time zone is pinned to UTC).
- ``len(list)`` is ``size``, ``list_sum`` an ``aggregate``, ``json_valid`` a non-null check
  (Spark's JSON readers return NULL on malformed text), DuckDB's JSON type strings become Spark
  schemas, a decimal literal such as ``86400.0`` stays a DOUBLE (Spark would compute in
  DECIMAL and round), and ``row_number() OVER ()`` (any order) becomes
  ``monotonically_increasing_id()``.
- Spark has no ASOF JOIN: a join carrying one is rewritten as an inequality join that keeps
  the latest match per left row (a window), which is what ASOF means.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlglot
from sqlglot import exp

__all__ = ["bind", "to_spark"]

_JSON_TYPES = {"VARCHAR": "STRING", "DOUBLE": "DOUBLE", "BIGINT": "BIGINT", "BOOLEAN": "BOOLEAN"}


def _literal(value: Any) -> exp.Expr:
    if isinstance(value, datetime):
        text = value.isoformat(sep=" ", timespec="microseconds")
        return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP_NTZ"))
    if isinstance(value, bool) or value is None:
        return exp.Boolean(this=value) if value is not None else exp.Null()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def bind(tree: exp.Expr, params: list[Any]) -> exp.Expr:
    """Replace DuckDB's positional ``$n`` parameters by literals (Spark SQL has none)."""

    def sub(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Placeholder) and str(node.this).isdigit():
            return _literal(params[int(node.this) - 1])
        return node

    return tree.transform(sub)


def _spark_schema(duck: str) -> str:
    """A DuckDB JSON structure string ('[{"a":"VARCHAR"}]') as a Spark DDL type."""

    def conv(v: Any) -> str:
        if isinstance(v, list):
            return f"ARRAY<{conv(v[0])}>"
        if isinstance(v, dict):
            return "STRUCT<" + ", ".join(f"`{k}`: {conv(t)}" for k, t in v.items()) + ">"
        return _JSON_TYPES[str(v).upper()]

    return conv(json.loads(duck))


def _epoch_seconds(node: exp.Expr) -> exp.Expr:
    ts = exp.cast(node.copy(), exp.DataType.build("TIMESTAMP"))
    return exp.Anonymous(this="unix_seconds", expressions=[ts])


def _date_diff(node: exp.DateDiff) -> exp.Expr:
    unit = str(node.args.get("unit") or "DAY").upper()
    end, start = node.this, node.expression
    if unit == "DAY":
        date = exp.DataType.build("DATE")
        return exp.Anonymous(
            this="datediff", expressions=[exp.cast(end.copy(), date), exp.cast(start.copy(), date)]
        )
    if unit == "SECOND":
        return exp.Paren(this=exp.Sub(this=_epoch_seconds(end), expression=_epoch_seconds(start)))
    raise ValueError(f"date_diff unit {unit!r} has no Spark translation")


def _function(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.DateDiff):
        return _date_diff(node)
    if isinstance(node, exp.Length) and isinstance(node.this, exp.Column | exp.Identifier):
        return exp.Anonymous(this="size", expressions=[node.this.copy()])
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        args = node.expressions
        if name == "json_valid":
            return exp.Not(this=exp.Is(this=args[0].copy(), expression=exp.Null()))
        if name == "list_sum":
            return sqlglot.parse_one(
                f"aggregate({args[0].sql('spark')}, CAST(0 AS DOUBLE), (acc, v) -> acc + v)",
                read="spark",
            )
    if isinstance(node, exp.Literal) and not node.is_string and "." in node.this:
        return exp.cast(node.copy(), exp.DataType.build("DOUBLE"))
    return node


def _json_schemas(node: exp.Expr) -> exp.Expr:
    """from_json(x, '<duckdb structure>') → from_json(x, '<spark DDL>')."""
    if isinstance(node, exp.FromJson):
        schema = node.expression
        if isinstance(schema, exp.Literal) and schema.is_string:
            spark = exp.Literal.string(_spark_schema(schema.this))
            return exp.Anonymous(this="from_json", expressions=[node.this.copy(), spark])
    return node


def _row_number(node: exp.Expr) -> exp.Expr:
    if (
        isinstance(node, exp.Window)
        and isinstance(node.this, exp.RowNumber)
        and not node.args.get("order")
        and not node.args.get("partition_by")
    ):
        return exp.Anonymous(this="monotonically_increasing_id", expressions=[])
    return node


def _asof(select: exp.Expr) -> exp.Expr:
    """``SELECT cols FROM l ASOF JOIN r ON eq AND l.t >= r.t WHERE w`` → the latest r per l
    row through a window over an inequality join (Spark has no ASOF JOIN)."""
    if not isinstance(select, exp.Select):
        return select
    joins = select.args.get("joins") or []
    asof = [j for j in joins if str(j.args.get("method") or "").upper() == "ASOF"]
    if not asof:
        return select
    join = asof[0]
    left = select.args["from_"].this
    left_alias, right_alias = left.alias_or_name, join.this.alias_or_name
    ineq = next(join.args["on"].find_all(exp.GTE, exp.GT, exp.LTE, exp.LT))
    right_time = next(c for c in (ineq.this, ineq.expression) if c.table == right_alias)
    inner = select.copy()
    tagged = sqlglot.parse_one(
        f"SELECT * FROM (SELECT *, monotonically_increasing_id() AS _asof_row "
        f"FROM {left.this.sql('spark')}) AS {left_alias}",
        read="spark",
    )
    inner.set("from_", tagged.args["from_"])
    inner.set("joins", [_plain(j) if j is join else j.copy() for j in joins])
    rank = sqlglot.parse_one(
        f"row_number() OVER (PARTITION BY {left_alias}._asof_row "
        f"ORDER BY {right_time.sql('spark')} DESC)",
        read="spark",
    )
    names = [e.alias_or_name for e in select.expressions]
    inner.set("expressions", [*(e.copy() for e in select.expressions), rank.as_("_asof_rank")])
    outer = f"SELECT {', '.join(names)} FROM ({inner.sql('spark')}) AS _asof WHERE _asof_rank = 1"
    return sqlglot.parse_one(outer, read="spark")


def _plain(join: exp.Join) -> exp.Join:
    out = join.copy()
    out.set("method", None)
    return out


def to_spark(sql: str, params: list[Any] | None = None) -> str:
    """The Spark SQL of one DuckDB query, with `params` bound as literals."""
    # SQLGlot 30's DuckDB tokenizer fails on a `$n` parameter followed by '' at the very end
    # of the text (it reads a dollar-quoted string); a trailing newline avoids it
    tree = sqlglot.parse_one(sql + "\n", read="duckdb")
    tree = bind(tree, params or [])
    tree = tree.transform(_asof)
    tree = tree.transform(_row_number)
    tree = tree.transform(_json_schemas)
    tree = tree.transform(_function)
    return tree.sql(dialect="spark")
