"""The end-to-end suite runs on either engine: ``CONNECTOR_TEST_ENGINE=spark pytest tests/e2e``
gives every workspace built by `tests.conftest.write_config` ``[engine] kind = "spark"``
(Spark local[2]; in-process runs share one session per pytest process, subprocess runs start
their own). Without PySpark or a JDK those runs skip and say why.

Only the full model engine computes on Spark (``[model] engine = "rfm"`` stays on DuckDB), so
the summary names the test directories whose runs published a Spark warehouse (``-n 0``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.conftest import ENGINE_ENV, engine_under_test

_ON_SPARK = pytest.StashKey[list[str]]()


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


@pytest.fixture(scope="session", autouse=True)
def _spark_runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    yield
    if engine_under_test() == "spark":
        base = tmp_path_factory.getbasetemp()
        dirs = {p.relative_to(base).parts[0] for p in base.glob("**/warehouse/events")}
        request.config.stash[_ON_SPARK] = sorted(dirs)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    on_spark = config.stash.get(_ON_SPARK, None)
    if on_spark is not None:
        terminalreporter.write_line(
            f"model runs on Spark (a warehouse published) in {len(on_spark)} test directories: "
            + ", ".join(on_spark)
        )
