"""Fixtures of the engine tests: one local Spark session for the whole test session.

A Spark JVM takes 10 to 40 s to start, so every `spark`-marked test shares one (local[2],
loopback, no UI, few shuffle partitions); without PySpark or a JDK they skip and say why.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.config.models import EngineSettings

LOCAL = EngineSettings(
    kind="spark",
    master="local[2]",
    app_name="cdp-connector-tests",
    conf={"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"},
)


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from connector.engine.session import spark_available, spark_session

    missing = spark_available()
    if missing:
        pytest.skip(f"Spark engine tests need PySpark and a JDK: {missing}")
    session = spark_session(LOCAL)
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
