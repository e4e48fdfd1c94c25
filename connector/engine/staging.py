"""Run a long WITH query on Spark one common table expression at a time.

Spark inlines a CTE at every reference, so the netted-events CTE our feature SQL reads six
times would be recomputed six times (a scan, two joins and a window each), and a
``monotonically_increasing_id`` inside it could differ between the copies. Each CTE becomes a
temporary view instead, cached when it is read more than once; `Staged.close` drops them.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp

__all__ = ["Staged", "staged"]

_QUERY_IDS = itertools.count()


@dataclass
class Staged:
    """The final query's DataFrame and the views (and caches) to drop after it is read."""

    frame: Any
    views: list[str] = field(default_factory=list)
    cached: list[Any] = field(default_factory=list)

    def close(self, spark: Any) -> None:
        for df in self.cached:
            df.unpersist()
        for view in self.views:
            spark.catalog.dropTempView(view)


def _rename(node: exp.Expr, names: dict[str, str]) -> exp.Expr:
    def sub(n: exp.Expr) -> exp.Expr:
        if isinstance(n, exp.Table) and not n.args.get("db") and n.name in names:
            alias = n.alias or n.name
            return exp.to_table(names[n.name]).as_(alias)
        return n

    return node.transform(sub)


def staged(spark: Any, sql: str) -> Staged:
    """`sql` (Spark dialect) with each CTE registered as a view under a unique name."""
    tree = sqlglot.parse_one(sql, read="spark")
    with_ = tree.args.get("with_")
    if not with_:
        return Staged(spark.sql(sql))
    prefix = f"_cte{next(_QUERY_IDS)}_"
    ctes = list(with_.expressions)
    tree.set("with_", None)
    refs = Counter(
        t.name
        for t in itertools.chain(tree.find_all(exp.Table), *(c.find_all(exp.Table) for c in ctes))
    )
    names: dict[str, str] = {}
    out = Staged(None)
    for cte in ctes:
        body = _rename(cte.this.copy(), names)
        view = prefix + cte.alias
        df = spark.sql(body.sql(dialect="spark"))
        if refs[cte.alias] > 1:
            df = df.cache()
            out.cached.append(df)
        df.createOrReplaceTempView(view)
        out.views.append(view)
        names[cte.alias] = view
    out.frame = spark.sql(_rename(tree, names).sql(dialect="spark"))
    return out
