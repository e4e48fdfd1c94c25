"""A SparkSession from ``[engine]`` settings: local mode, a cluster, or a Spark Connect server.

PySpark is an optional extra (``pip install 'cdp-connector[spark]'``) and needs a JDK for
local mode or a classic cluster; its absence is a ConfigError that says so, not an ImportError
deep in a run. The session time zone is pinned to UTC: our timestamps are naive UTC, and the
translated SQL turns them into epoch seconds through the session zone.

A ``sc://`` master is a Spark Connect server: the session is a gRPC client (no JVM here), made
by the Connect builder itself. PySpark's generic builder would refuse it in a process that
already runs a local session, and would set ``SPARK_CONNECT_MODE_ENABLED``, which turns every
later local session of the process into a Connect one.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import warnings
from typing import Any

from connector.config.models import EngineSettings
from connector.errors import ConfigError

__all__ = ["BASE_CONF", "connect_available", "spark_available", "spark_session"]

# Settings every session gets; the user's `[engine] conf` wins over them.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}
# Local mode only: the driver listens on loopback, few shuffle partitions for one machine.
LOCAL_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
}
# What a Spark Connect client imports (PySpark's `connect` extra): gRPC, its status protos, zstd.
CONNECT_MODULES = ("grpc", "grpc_status", "google.rpc", "zstandard", "pyarrow")


def spark_available() -> str | None:
    """None when a local Spark session can start here, else why not (for skips and errors)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "PySpark is not installed: pip install 'cdp-connector[spark]'"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (JDK 17+) on PATH or in JAVA_HOME; Spark needs one"
    return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # its parent package (google for google.rpc) is absent
        return False


def connect_available() -> str | None:
    """None when a Spark Connect client can run here (it needs no JVM), else why not."""
    missing = [m for m in ("pyspark", *CONNECT_MODULES) if not _importable(m)]
    if missing:
        return (
            f"a Spark Connect client needs {', '.join(missing)}: "
            "pip install 'cdp-connector[spark]' (PySpark with its connect extra)"
        )
    return None


def _builder(settings: EngineSettings, remote: bool) -> Any:
    if remote:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        return ConnectSession.builder.remote(settings.master).appName(settings.app_name)
    from pyspark.sql import SparkSession

    return SparkSession.builder.appName(settings.app_name).master(settings.master)


def spark_session(settings: EngineSettings) -> Any:
    """The active session for these settings (getOrCreate: one JVM, or one Connect client
    session, per process)."""
    remote = settings.master.startswith("sc://")
    missing = connect_available() if remote else spark_available()
    if missing:
        raise ConfigError(f"engine.kind = 'spark': {missing}")
    # executors run our scoring functions: they must use this interpreter and its packages
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = _builder(settings, remote)
    conf = dict(BASE_CONF)
    if settings.master.startswith("local"):
        conf.update(LOCAL_CONF)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if settings.executor_memory:
        conf["spark.executor.memory"] = settings.executor_memory
    conf.update(settings.conf)
    for key, value in conf.items():
        if remote and not key.startswith("spark.sql."):
            # a Connect session takes only runtime SQL settings; the server's own
            # configuration (memory, executors, UI) is set where the server starts
            continue
        builder = builder.config(key, value)
    # PySpark 4.x warns on each pandas conversion that it predates pandas 3; the parity suite
    # checks the conversions we make, so the warning only alarms users
    warnings.filterwarnings(
        "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
    )
    session = builder.getOrCreate()
    if not remote:
        session.sparkContext.setLogLevel("ERROR")
    return session
