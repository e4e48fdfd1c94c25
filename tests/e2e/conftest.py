"""The end-to-end suite runs on either engine: ``CONNECTOR_TEST_ENGINE=spark pytest tests/e2e``
gives every workspace built by `tests.conftest.write_config` ``[engine] kind = "spark"``
(Spark local[2]; in-process runs share one session per pytest process, subprocess runs start
their own). Without PySpark or a JDK those runs skip and say why."""

from __future__ import annotations

import pytest
from tests.conftest import ENGINE_ENV, engine_under_test


def pytest_report_header() -> str:
    return f"engine under test: {engine_under_test()} (${ENGINE_ENV})"


@pytest.fixture(autouse=True)
def _engine_present() -> None:
    if engine_under_test() != "spark":
        return
    from connector.engine.session import spark_available

    missing = spark_available()
    if missing:
        pytest.skip(f"{ENGINE_ENV}=spark, but {missing}")
