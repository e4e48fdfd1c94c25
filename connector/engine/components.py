"""Identity groups on Spark: connected components by iterative min-label joins in Spark SQL.

Records (a source's profile record, or an identifier set seen on events) are linked by the
identity keys they share. Each record starts labelled with its own ref; every round, each key
takes the smallest label of its records and each record the smallest label of its keys, until no
label moves (rounds = the graph's diameter, a handful for real identity graphs). The label is
then the smallest ref of the component, which is the root `connector.identity.resolver.resolve`
keeps (it unions by the lower sorted index), so both give the same groups, and therefore the same
profile ids once `connector.identity.ids.assign_profile_ids` runs on them.

Not reproduced here: the per-kind cap of `resolve` (a union refused when a profile would hold
more than ``max_ids_per_kind`` values of one kind) and the merges it records, which depend on the
order records are met; `connector.engine.identity` runs the resolver on each partition of whole
components for those. Blocked values are the caller's to filter from the edges. GraphFrames is
not used: it is not on PyPI as a Python package that brings its JVM side.
"""

from __future__ import annotations

from typing import Any

__all__ = ["connected_components"]


def connected_components(spark: Any, edges: Any, *, max_rounds: int = 100) -> Any:
    """A DataFrame (ref, component) from `edges` (ref, key); component = the smallest ref."""
    edges.select("ref", "key").distinct().createOrReplaceTempView("_cc_edges")
    labels = spark.sql("SELECT DISTINCT ref, ref AS label FROM _cc_edges").localCheckpoint()
    try:
        for _ in range(max_rounds):
            labels.createOrReplaceTempView("_cc_labels")
            moved = spark.sql(
                """WITH by_key AS (
                     SELECT e.key, min(l.label) AS label
                     FROM _cc_edges e JOIN _cc_labels l ON l.ref = e.ref GROUP BY e.key)
                   SELECT l.ref, least(l.label, coalesce(min(k.label), l.label)) AS label,
                          min(k.label) < l.label AS moved
                   FROM _cc_labels l
                   LEFT JOIN _cc_edges e ON e.ref = l.ref
                   LEFT JOIN by_key k ON k.key = e.key
                   GROUP BY l.ref, l.label"""
            ).localCheckpoint()
            labels = moved.select("ref", "label")
            if not moved.filter("moved").limit(1).collect():
                return labels.withColumnRenamed("label", "component")
        raise RuntimeError(f"identity components did not settle in {max_rounds} rounds")
    finally:
        for view in ("_cc_edges", "_cc_labels"):
            spark.catalog.dropTempView(view)
