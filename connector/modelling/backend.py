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

from connector.modelling.features import (
    compute_features,
    materialise_baskets,
    materialise_items,
    top_categories,
)

__all__ = ["BASKETS", "ITEMS", "DuckBackend", "ModelBackend", "RowScorer"]

# the run's parsed product lists (`materialise_items` / `materialise_baskets`): every line before
# its cutoff, unnetted, so each earlier feature cutoff nets them by its own refunds
ITEMS = "_model_items"
BASKETS = "_model_baskets"

# A function from a frame to one output row per input row (same order, fresh index)
RowScorer = Callable[[pd.DataFrame], pd.DataFrame]


class ModelBackend(Protocol):
    """The engine a model run computes on (see the module docstring)."""

    @property
    def name(self) -> str: ...

    def parse_products(
        self, con: duckdb.DuckDBPyConnection, as_of: datetime, *, items: bool
    ) -> tuple[str | None, str]:
        """Parse the run's product lists once (ITEMS when `items`, BASKETS); their names."""
        ...

    def drop_parsed(self, con: duckdb.DuckDBPyConnection) -> None: ...

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

    def parse_products(
        self, con: duckdb.DuckDBPyConnection, as_of: datetime, *, items: bool
    ) -> tuple[str | None, str]:
        parsed = materialise_items(con, as_of, ITEMS) if items else None
        return parsed, materialise_baskets(con, as_of, BASKETS)

    def drop_parsed(self, con: duckdb.DuckDBPyConnection) -> None:
        for table in (ITEMS, BASKETS):
            con.execute(f"DROP TABLE IF EXISTS {table}")

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
