"""Where the model's heavy work runs: the feature queries over events and the per-profile
scoring. The embedded default is DuckDB; ``connector.engine`` supplies a Spark one.

A backend computes features (one row per profile, as `compute_features` defines them) and
applies a fitted model to a frame row-wise (`apply`). Fitting itself stays on the driver, from
compact inputs, so the same fit serves both backends and their scores agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

import duckdb
import pandas as pd

from connector.modelling.features import compute_features, top_categories

__all__ = ["DuckBackend", "ModelBackend", "RowScorer"]

# A function from a frame to one output row per input row (same order, fresh index)
RowScorer = Callable[[pd.DataFrame], pd.DataFrame]


class ModelBackend(Protocol):
    """The engine a model run computes on (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def top_categories(
        self, con: duckdb.DuckDBPyConnection, cutoff: datetime, n: int, items_table: str | None
    ) -> list[str]: ...

    def features(
        self,
        con: duckdb.DuckDBPyConnection,
        cutoff: datetime,
        *,
        categories: list[str],
        half_life_days: float,
        items_table: str | None,
        baskets_table: str | None,
    ) -> pd.DataFrame: ...

    def apply(self, frame: pd.DataFrame, scorer: RowScorer) -> pd.DataFrame: ...


class DuckBackend:
    """Everything in the embedded DuckDB store and this process (the default)."""

    name = "duckdb"

    def top_categories(
        self, con: duckdb.DuckDBPyConnection, cutoff: datetime, n: int, items_table: str | None
    ) -> list[str]:
        return top_categories(con, cutoff, n, items_table)

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
        return compute_features(
            con,
            cutoff,
            categories=categories,
            half_life_days=half_life_days,
            items_table=items_table,
            baskets_table=baskets_table,
        )

    def apply(self, frame: pd.DataFrame, scorer: RowScorer) -> pd.DataFrame:
        out = scorer(frame)
        out.index = frame.index
        return out
