"""The compute engine boundary: where a run's set-based work executes.

``[engine] kind = "duckdb"`` (the default) computes in the embedded store, in this process.
``kind = "spark"`` runs the same feature SQL, translated by SQLGlot
(`connector.engine.translate`), on Apache Spark over Parquet tables in the warehouse, applies
the fitted models on the executors, resolves all identities there when unify resolves
everything (`connector.engine.identity`), and runs the plan's diff against the ledger there
too (`connector.engine.plan_spark`); see README "Scale". The pipeline asks this module for a
`ModelBackend`, a `Resolver` and a plan database and never imports PySpark itself, so the
default install needs no JVM.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from connector.config.models import EngineSettings
from connector.identity.resolver import Resolver, resolve
from connector.modelling.backend import DuckBackend, ModelBackend
from connector.sync.plan_db import DuckPlanDatabase, PlanDatabase
from connector.sync.planned import plan_engine

__all__ = ["identity_resolver", "model_backend", "plan_database", "spark_for", "warehouse_path"]


def warehouse_path(settings: EngineSettings, workspace: Path) -> str:
    """Where the engine's Parquet tables live: the setting, else ``<workspace>/warehouse``."""
    return settings.warehouse or str(workspace / "warehouse")


def spark_for(settings: EngineSettings) -> Any:
    """The process's SparkSession for these settings (created on first use)."""
    from connector.engine.session import spark_session

    return spark_session(settings)


def identity_resolver(settings: EngineSettings) -> Resolver:
    """What resolves every identity record when unify resolves them all (first run, full
    refresh, changed identity settings, most of the graph touched); the same `Resolution`
    either way. The Spark session starts only when such a resolution happens."""
    if settings.kind == "duckdb":
        return resolve
    from connector.engine.identity import SparkResolver

    return SparkResolver(lambda: spark_for(settings))


def model_backend(
    settings: EngineSettings, workspace: Path, con: duckdb.DuckDBPyConnection
) -> ModelBackend:
    """The backend a model run computes on; for Spark, the store's tables are published to
    the warehouse as Parquet first (`connector.engine.warehouse`)."""
    if settings.kind == "duckdb":
        return DuckBackend()
    from connector.engine.spark_backend import SparkBackend
    from connector.engine.warehouse import publish, register

    spark = spark_for(settings)
    warehouse = warehouse_path(settings, workspace)
    register(spark, warehouse, publish(con, warehouse, spark))
    return SparkBackend(spark)


def plan_database(
    settings: EngineSettings, workspace: Path, destination: str, memory_limit: str | None = None
) -> PlanDatabase:
    """Where one destination's plan is computed: a DuckDB connection of its own (spilling to
    ``<workspace>/tmp/plan``), or Spark over Parquet in ``<warehouse>/plan``."""
    if settings.kind == "duckdb":
        return DuckPlanDatabase(plan_engine(workspace / "tmp" / "plan", memory_limit))
    from connector.engine.plan_spark import SparkPlanDatabase

    root = f"{warehouse_path(settings, workspace).rstrip('/')}/plan"
    return SparkPlanDatabase(spark_for(settings), root, destination)
