"""The engine's tables: the data store's events and profiles as Parquet in the warehouse.

Pull and unify write the embedded store; a Spark run publishes the tables the models read to
``[engine] warehouse`` (a local directory, or an object-store URL Spark can write) as plain
Parquet, replaced whole each run, and registers them as temporary views. Parquet is the only
format: any engine or tool reads it, and there is no home-made storage layer to trust.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["TABLES", "publish", "register"]

# what the feature SQL reads, and the identity map the model keys come from
TABLES = ("events", "profiles", "identity_map")


def _is_url(warehouse: str) -> bool:
    return "://" in warehouse


def _present(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    names = {str(r[0]) for r in rows}
    return [t for t in TABLES if t in names]


def publish(con: duckdb.DuckDBPyConnection, warehouse: str, spark: Any) -> list[str]:
    """Write each of TABLES the store holds to ``<warehouse>/<table>`` as Parquet, replacing
    what was there; returns the tables written."""
    tables = _present(con)
    for table in tables:
        if _is_url(warehouse):
            rel = con.sql(f"SELECT * FROM {table}")
            if rel is None:  # a SELECT always yields a relation; guard for the type checker
                raise RuntimeError(f"no relation for {table}")
            frame = spark.createDataFrame(rel.to_arrow_table())
            frame.write.mode("overwrite").parquet(f"{warehouse.rstrip('/')}/{table}")
            continue
        target = Path(warehouse) / table
        staging = Path(warehouse) / f".{table}.staging"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        con.execute(
            f"COPY (SELECT * FROM {table}) TO '{staging / 'part-0.parquet'}' (FORMAT parquet)"
        )
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return tables


def register(spark: Any, warehouse: str, tables: list[str]) -> None:
    """Register each published table as a temporary view of the same name."""
    for table in tables:
        spark.read.parquet(f"{warehouse.rstrip('/')}/{table}").createOrReplaceTempView(table)
