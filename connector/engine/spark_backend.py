"""The model's backend on Spark: the feature SQL translated and run over the warehouse's
Parquet tables, fitted models applied on the executors through ``mapInPandas``.

The feature table (one row per profile) comes back to the driver, where the models are fitted
and clusters, rules, tiers and holdouts are evaluated exactly as on DuckDB; what is distributed
is the event-level work (every scan, join and aggregate over events) and the per-profile
scoring, which are what grow with the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from connector.engine.staging import staged
from connector.engine.translate import to_spark
from connector.modelling.backend import BASKETS, ITEMS, RowScorer
from connector.modelling.features import (
    baskets_sql,
    feature_sql,
    items_sql,
    tidy_features,
    top_categories_sql,
)

__all__ = ["SparkBackend", "spark_schema"]

_ROW = "_engine_row"
_TYPES = {"f": "double", "i": "bigint", "u": "bigint", "b": "boolean"}


def spark_schema(frame: pd.DataFrame) -> str:
    """A Spark DDL schema for a pandas frame (floats, integers, booleans, strings)."""
    return ", ".join(f"`{c}` {_TYPES.get(frame[c].dtype.kind, 'string')}" for c in frame.columns)


class SparkBackend:
    """Model work on a SparkSession whose `events` and `profiles` views are registered
    (`connector.engine.warehouse.register`)."""

    name = "spark"

    def __init__(self, spark: Any) -> None:
        self.spark = spark
        self._parsed: list[Any] = []

    def parse_products(
        self, con: duckdb.DuckDBPyConnection, as_of: datetime, *, items: bool
    ) -> tuple[str | None, str]:
        """The same parsed product views as DuckDB's temp tables, cached on the executors."""
        wanted = [(ITEMS, items_sql())] if items else []
        for name, sql in [*wanted, (BASKETS, baskets_sql())]:
            run = staged(self.spark, to_spark(sql, [as_of]))
            frame = run.frame.cache()
            frame.count()  # materialise before the CTE views it reads are dropped
            run.close(self.spark)
            frame.createOrReplaceTempView(name)
            self._parsed.append(frame)
        return (ITEMS if items else None), BASKETS

    def drop_parsed(self, con: duckdb.DuckDBPyConnection) -> None:
        for frame in self._parsed:
            frame.unpersist()
        self._parsed.clear()
        for name in (ITEMS, BASKETS):
            self.spark.catalog.dropTempView(name)

    def top_categories(
        self, con: duckdb.DuckDBPyConnection, cutoff: datetime, n: int, items_table: str | None
    ) -> list[str]:
        if n == 0:
            return []
        rows = self._collect(to_spark(top_categories_sql(items_table), [cutoff, n]))
        return [str(v) for v in rows.iloc[:, 0]]

    def features(
        self,
        con: duckdb.DuckDBPyConnection,
        cutoff: datetime,
        *,
        categories: list[str],
        half_life_days: float,
        items_table: str | None,
        baskets_table: str | None,
    ) -> pd.DataFrame:
        sql = feature_sql(categories, half_life_days, items_table, baskets_table)
        sql = to_spark(sql, [cutoff, *categories])
        return tidy_features(self._collect(sql))

    def _collect(self, sql: str) -> pd.DataFrame:
        run = staged(self.spark, sql)
        try:
            frame: pd.DataFrame = run.frame.toPandas()
        finally:
            run.close(self.spark)
        return _plain(frame)

    def apply(self, frame: pd.DataFrame, scorer: RowScorer) -> pd.DataFrame:
        """`scorer` on every row, in batches on the executors; rows come back in order."""
        if frame.empty:
            out = scorer(frame)
            out.index = frame.index
            return out
        probe = scorer(frame.head(1).reset_index(drop=True))
        schema = f"{spark_schema(probe)}, `{_ROW}` bigint"
        tagged = frame.reset_index(drop=True).assign(**{_ROW: np.arange(len(frame))})

        def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
            for batch in batches:
                rows = batch.pop(_ROW).to_numpy()
                out = scorer(batch.reset_index(drop=True))
                out[_ROW] = rows
                yield out

        done = _plain(self.spark.createDataFrame(tagged).mapInPandas(run, schema).toPandas())
        done = done.sort_values(_ROW).drop(columns=[_ROW])
        done.index = frame.index
        typed: pd.DataFrame = done.astype(probe.dtypes.to_dict())
        return typed


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the query metrics Spark Connect's ``toPandas`` leaves in ``attrs``.

    pandas carries ``attrs`` into every derived frame, and Arrow cannot serialise the metrics
    objects when the model tables are written (a warning, and an error under the test suite).
    """
    frame.attrs = {}
    return frame
