"""A full identity resolution on Spark that gives exactly what `resolve` gives in process.

Three steps:
1. edges (record ref, identity key), blocked values left out by the rule of
   `connector.identity.resolver.is_blocked`, judged in Spark SQL on ASCII values only (as
   ``connector.identity.graph`` does: Python and the JVM agree on their case and digits), so
   the edges are the resolver's or a few more, never fewer;
2. connected components of those edges (`connector.engine.components`, min-label joins);
3. the ordered resolver itself on the executors, over partitions that each hold whole
   components (`connector.identity.parts`): it applies the per-kind cap (a component with more
   than ``max_ids_per_kind`` values of one kind is split as one ordered pass splits it) and
   records each merge in the order that pass makes it, which components alone cannot give.

The driver puts the parts back together (`connector.identity.parts.assemble`); profile ids are
then assigned from that `Resolution` by the same code as on DuckDB, so ids, identifiers and
explanations are identical. The executors import ``connector`` (README "Scale").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pandas as pd

from connector.engine.components import connected_components
from connector.identity.parts import PART_COLUMNS, PartRow, assemble, resolve_part
from connector.identity.resolver import IdentityRecord, Resolution, resolve

__all__ = ["SparkResolver", "edges_of"]

_PART_SCHEMA = "kind string, a string, b string, via string, accepted boolean, note string"


def edges_of(records: Any, blocked: frozenset[str]) -> Any:
    """(ref, key) of each record's keys that may join: all but the certainly blocked ones.

    `blocked` holds the stripped, lower-cased blocked values. A value is judged only when it
    is ASCII; Spark's ``trim`` strips spaces only, Python's ``strip`` all whitespace, so a
    value padded with tabs counts as joinable here: never a key the resolver joins on is lost.
    """
    # SQL text, not ``pyspark.sql.functions``: on a Spark Connect session those build classic
    # columns a Connect DataFrame refuses ("'Column' object is not callable")
    keys = records.selectExpr("ref", "explode(keys) AS key")
    keys = keys.selectExpr("ref", "key", "substr(key, instr(key, ':') + 1) AS v")
    keys = keys.selectExpr("ref", "key", "v", "regexp_replace(v, '[^0-9]', '') AS d")
    listed = ", ".join(_literal(b) for b in sorted(blocked))

    def among(column: str) -> str:
        return f"{column} IN ({listed})" if listed else "false"

    by_value = among("lower(trim(v))")
    by_digits = f"(length(d) >= 7 AND ({among('d')} OR replace(d, left(d, 1), '') = ''))"
    certain = f"(octet_length(v) = length(v) AND ({by_value} OR {by_digits}))"
    return keys.filter(f"NOT {certain}").select("ref", "key")


def _literal(text: str) -> str:
    """A Spark SQL string literal (backslash escapes, Spark's default)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _partition_resolver(
    blocked: frozenset[str], max_ids_per_kind: int, uncapped: frozenset[str]
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The function each partition of whole components runs (on an executor)."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        records = [
            IdentityRecord(str(ref), () if keys is None else tuple(str(k) for k in keys))
            for batch in batches
            for ref, keys in zip(batch["ref"], batch["keys"], strict=True)
        ]
        if records:
            rows = resolve_part(
                records, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=uncapped
            )
            yield pd.DataFrame(rows, columns=list(PART_COLUMNS))

    return run


def _rows(frame: pd.DataFrame) -> Iterator[PartRow]:
    for kind, a, b, via, accepted, note in frame.itertuples(index=False, name=None):
        if kind == "merge":
            yield kind, a, b, via, bool(accepted), note
        else:
            yield kind, a, b, None, None, None


class SparkResolver:
    """`resolve`'s contract (`connector.identity.resolver.Resolver`) computed on Spark.

    The session is asked for on the first call, so a run that resolves only the part its
    changes touch (in process) never waits for one.
    """

    def __init__(self, session: Callable[[], Any]) -> None:
        self._session = session

    def __call__(
        self,
        records: Iterable[IdentityRecord],
        *,
        blocked: Iterable[str] = (),
        max_ids_per_kind: int = 5,
        uncapped: frozenset[str] = frozenset(),
    ) -> Resolution:
        recs = list(records)
        blocked_lc = frozenset(b.strip().lower() for b in blocked)
        if not recs:
            return resolve(recs)
        spark = self._session()
        frame = spark.createDataFrame(
            pd.DataFrame({"ref": [r.ref for r in recs], "keys": [list(r.keys) for r in recs]}),
            schema="ref string, keys array<string>",
        )
        components = connected_components(spark, edges_of(frame, blocked_lc))
        labelled = frame.join(components, "ref", "left").selectExpr(
            "ref", "keys", "coalesce(component, ref) AS component"
        )
        parts = labelled.repartition("component").mapInPandas(
            _partition_resolver(blocked_lc, max_ids_per_kind, uncapped), _PART_SCHEMA
        )
        return assemble(recs, _rows(parts.toPandas()))
