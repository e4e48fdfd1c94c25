"""A run on a Spark Connect server (``master = "sc://host:port"``) lands what DuckDB's does.

The server is the one PySpark's wheel ships (``SparkConnectServer`` in
``jars/spark-connect_*.jar``, what ``sbin/start-connect-server.sh`` launches), started here on
local[2] bound to loopback; this process holds only a gRPC client, as a user of a remote
server would. The run publishes its tables to the warehouse (a local directory the server can
read, as it runs on this machine), registers them on the server and scores through
``mapInPandas`` there; traits and memberships at the files destination must equal the
DuckDB run's on the same data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from tests.conftest import write_config

from connector.config import load_config
from connector.config.models import EngineSettings
from connector.demo.dataset import write_demo_inputs
from connector.engine import spark_for
from connector.engine.session import connect_available, spark_available
from connector.pipeline import Workspace, run_pipeline

pytestmark = pytest.mark.spark

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the Connect server exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    pytest.fail(f"the Connect server did not listen within {timeout} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    missing = spark_available() or connect_available()
    if missing:
        pytest.skip(f"a local Spark Connect server needs PySpark, a JDK and gRPC: {missing}")
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    conf = {
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.log.level": "WARN",
    }
    cmd = [str(home / "bin" / "spark-submit"), "--class", SERVER_CLASS, "--master", "local[2]"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    # the server's Python workers apply our models: this interpreter, this checkout
    env = {**os.environ, "SPARK_HOME": str(home), "PYSPARK_PYTHON": sys.executable}
    env["SPARK_LOCAL_IP"] = "127.0.0.1"
    env.pop("SPARK_CONNECT_AUTHENTICATE_TOKEN", None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_for(port, server, log, timeout=240)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def _run(root: Path, engine: str) -> Path:
    write_demo_inputs(root / "data", shift=timedelta(0))
    cfg = write_config(root, engine, engine="full")
    # one profile-id key for both workspaces (as the demo's), so their profile ids agree
    secrets = root / "connector.secrets.toml"
    secrets.write_text('[identity]\nid_key = "spark-connect-parity"\n')
    secrets.chmod(0o600)
    ws = Workspace(load_config(cfg, env={}))
    try:
        summary = run_pipeline(ws)
    finally:
        ws.close()
    # the demo data holds a few broken records on purpose: quarantined, counted, the rest lands
    assert summary.status == "completed_with_rejects", summary.failures
    assert summary.failures == []
    return root / "out"


def _landed(out: Path, name: str, key: list[str]) -> pd.DataFrame:
    return pd.read_csv(out / name, dtype=str).sort_values(key).reset_index(drop=True)


def test_a_run_on_spark_connect_lands_what_duckdb_does(connect_url: str, tmp_path: Path) -> None:
    engine = f'\n[engine]\nkind = "spark"\nmaster = "{connect_url}"\n'
    on_connect = _run(tmp_path / "connect", engine)
    session = spark_for(EngineSettings(kind="spark", master=connect_url))
    try:
        # the run's session was a Connect client, and its tables are registered on the server
        assert type(session).__module__ == "pyspark.sql.connect.session"
        assert session.table("events").count() > 1000
        # and it left this process free to start a local session (PySpark's generic builder
        # sets this flag, after which every local session of the process is a Connect one)
        assert "SPARK_CONNECT_MODE_ENABLED" not in os.environ
    finally:
        session.stop()
    on_duck = _run(tmp_path / "duck", '\n[engine]\nkind = "duckdb"\n')
    for name, key in (
        ("traits.csv", ["profile_id"]),
        ("memberships.csv", ["segment_id", "profile_id"]),
    ):
        spark_side, duck_side = _landed(on_connect, name, key), _landed(on_duck, name, key)
        assert len(duck_side) > 500, name
        pd.testing.assert_frame_equal(spark_side, duck_side)
