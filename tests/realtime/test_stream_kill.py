"""A stream killed with SIGKILL at 10 random moments under load loses no event and ends with
exactly the memberships of a stream that was never interrupted (no member missing, none
duplicated at the platform)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.realtime.kit import (
    ENV,
    SECRET,
    post,
    stream_config,
    track,
    wait_for,
    workspace,
    write_people,
)

from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_segment.settings import SegmentSettings
from cdp_segment.webhook import WebhookReceiver, spool_path
from connector.pipeline import run_pipeline
from connector.sdk import EmulatorOptions

REPO = Path(__file__).resolve().parents[2]
PEOPLE = 30
KILLS = 10


def _load(n: int, seed: int) -> list[dict[str, Any]]:
    """Views, cart adds and orders of ``PEOPLE`` people, timed well inside the rules' windows."""
    rnd = random.Random(seed)
    now = datetime.now(UTC)
    kinds = [("Product Viewed", {"category": "coats"}), ("Product Viewed", {"category": "hats"}),
             ("Product Added", {}), ("Order Completed", {"revenue": 20.0})]  # fmt: skip
    out = []
    for i in range(n):
        event, props = rnd.choice(kinds)
        at = now - timedelta(hours=rnd.randint(1, 20), seconds=i)
        out.append(track(i, event, rnd.randrange(PEOPLE), at=at, **props))
    return out


def _stream(cfg: Path) -> subprocess.Popen[str]:
    env = {**os.environ, **ENV, "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}"}
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "stream", "--config", str(cfg)],
        cwd=cfg.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _started(proc: subprocess.Popen[str], timeout: float = 120.0) -> threading.Thread:
    """Wait for the stream's "streaming as" line; the thread returned drains (and at the
    process's end closes) its output."""
    out = proc.stdout
    assert out is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = out.readline()
        if "streaming as" in line:
            drain = threading.Thread(target=lambda: (out.read(), out.close()), daemon=True)
            drain.start()
            return drain
        assert line or proc.poll() is None, "the stream exited before it started"
    raise AssertionError("the stream did not start")


def _members(base_url: str) -> dict[str, list[str]]:
    """List name → member e-mails (a person held twice at Klaviyo shows up twice)."""
    state = httpx.get(f"{base_url}/__emulator__/state").json()
    return {
        lst["name"]: sorted(state["profiles"][pid]["email"] for pid in lst["members"])
        for lst in state["lists"].values()
    }


@pytest.fixture
def emulators() -> Iterator[tuple[KlaviyoEmulator, KlaviyoEmulator]]:
    with (
        KlaviyoEmulator(EmulatorOptions(limits="off")) as a,
        KlaviyoEmulator(EmulatorOptions(limits="off")) as b,
    ):
        yield a, b


def _setup(root: Path, base_url: str) -> tuple[Path, Path]:
    root.mkdir()
    cfg = stream_config(root, base_url)
    write_people(root, PEOPLE)
    ws = workspace(cfg)
    try:
        run_pipeline(ws)
    finally:
        ws.close()
    settings = SegmentSettings(webhook_secret=SECRET)  # type: ignore[arg-type]
    return cfg, spool_path(settings, root / ".connector")


def _finish(proc: subprocess.Popen[str], cfg: Path, expected: int) -> int:
    """Let the stream catch up with every event, stop it with SIGTERM; events stored."""

    def stored() -> int:
        ws = workspace(cfg)  # the stream holds DuckDB: read the committed marks instead
        try:
            return int(ws.state.engine.connect().exec_driver_sql(
                "SELECT value FROM plugin_state WHERE namespace = 'stream' "
                "AND key = 'segment/live'").scalar() or 0)  # fmt: skip
        finally:
            ws.close()

    assert wait_for(lambda: stored() >= expected, timeout=180)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(60) == 0
    ws = workspace(cfg)
    try:
        return int(ws.data.con.execute("SELECT count(*) FROM events WHERE source = 'segment'")
                   .fetchone()[0])  # type: ignore[index]  # fmt: skip
    finally:
        ws.close()


@pytest.mark.long
@pytest.mark.slow
def test_kill_9_at_random_moments_loses_and_duplicates_nothing(
    tmp_path: Path, emulators: tuple[KlaviyoEmulator, KlaviyoEmulator]
) -> None:
    crashed, reference = emulators
    events = _load(900, seed=17)
    cfg, spool = _setup(tmp_path / "crashed", crashed.base_url)
    rnd = random.Random(5)
    with WebhookReceiver(spool, SECRET.encode()) as rx, httpx.Client() as client:
        sender = threading.Thread(
            target=lambda: [post(client, rx.base_url, e) or time.sleep(0.01) for e in events]
        )
        sender.start()
        for _ in range(KILLS):
            proc = _stream(cfg)
            drain = _started(proc)
            time.sleep(rnd.uniform(0.0, 1.5))
            proc.kill()  # SIGKILL: no flush, no cleanup
            proc.wait()
            drain.join(10)
        sender.join()
        proc = _stream(cfg)
        drain = _started(proc)
        stored = _finish(proc, cfg, len(events))
        drain.join(10)
    assert stored == len(events), "an event was lost (or stored twice)"

    ref_cfg, ref_spool = _setup(tmp_path / "reference", reference.base_url)
    with WebhookReceiver(ref_spool, SECRET.encode()) as rx, httpx.Client() as client:
        for e in events:
            assert post(client, rx.base_url, e).status_code == 200
        proc = _stream(ref_cfg)
        drain = _started(proc)
        assert _finish(proc, ref_cfg, len(events)) == len(events)
        drain.join(10)
    got, want = _members(crashed.base_url), _members(reference.base_url)
    assert got == want, "memberships missing or duplicated after the kills"
    assert any(want.values()), "the load put nobody in a real-time segment"
