"""Builders for stream tests: a workspace with a files source, the Segment webhook and a
Klaviyo destination; signed Segment events; a stream run in a thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.conftest import write_config

from cdp_segment.webhook import sign
from connector.config import load_config
from connector.pipeline import Workspace
from connector.realtime.session import StreamOptions, StreamSummary, run_stream
from connector.runctl.stop import request_stop, reset_stop

SECRET = "whsec-stream"
KLAVIYO_KEY = "pk_stream_test"
ENV = {"SEGMENT_HOOK": SECRET, "KLAVIYO_KEY": KLAVIYO_KEY}
COATS = 'count(event = "product_viewed" and category = "coats", 7d) >= 3'
ABANDONED = "added_to_cart within 1d and no order_completed since added_to_cart"


def stream_config(
    root: Path,
    klaviyo_url: str,
    *,
    holdout: float = 0.0,
    rules: str = "",
    sweep: str = "60s",
    segments: tuple[str, ...] = ("coats_intent", "cart_abandoned"),
) -> Path:
    return write_config(
        root,
        f"""
[stream]
flush_seconds = 0.3
poll_seconds = 0.05
sweep = "{sweep}"

[model.core]
holdout_share = {holdout}
rule_segments = [
  {{ id = "coats_intent", name = "Coats intent", expression = '{COATS}', realtime = true }},
  {{ id = "cart_abandoned", name = "Cart abandoned", expression = "{ABANDONED}", realtime = true }},
  {rules}
]

[sources.segment]
plugin = "segment"
webhook_secret = {{ env = "SEGMENT_HOOK" }}

[destinations.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "KLAVIYO_KEY" }}
base_url = "{klaviyo_url}"
poll_interval = 0.05
segments = {json.dumps(list(segments))}
""",
        engine="rfm",
        as_of=datetime.now(UTC).date().isoformat(),
    )


def write_people(root: Path, n: int, *, denied: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    people = [
        {
            "source_id": f"c{i}",
            "email": f"person{i}@example.org",
            "updated_at": "2026-01-01T00:00:00Z",
            "consent": {"email": "denied" if i in denied else "granted"},
        }
        for i in range(n)
    ]
    data = root / "data" / "profiles" / "people.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in people))


def track(
    i: int, event: str, person: int, *, at: datetime | None = None, **props: Any
) -> dict[str, Any]:
    return {
        "type": "track",
        "event": event,
        "userId": f"u-{person}",
        "messageId": f"m-{i}",
        "timestamp": (at or datetime.now(UTC)).isoformat(),
        "context": {"traits": {"email": f"person{person}@example.org"}},
        "properties": props,
    }


def post(client: httpx.Client, url: str, message: dict[str, Any] | list[Any]) -> httpx.Response:
    body = json.dumps(message).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Segment-Signature": sign(SECRET.encode(), body),
    }
    return client.post(url, content=body, headers=headers)


def workspace(cfg: Path) -> Workspace:
    return Workspace(load_config(cfg, env=ENV))


@contextmanager
def streaming(cfg: Path, *, health_port: int | None = None) -> Iterator[dict[str, Any]]:
    """Run ``connector stream`` in a thread until the block ends; yields what it reported."""
    out: dict[str, Any] = {}
    started = threading.Event()

    def ready(run_id: str, health: str | None) -> None:
        out["run_id"] = run_id
        out["health"] = health
        started.set()

    def body() -> None:
        ws = workspace(cfg)
        try:
            options = StreamOptions(health_port=health_port, ready=ready)
            out["summary"] = run_stream(ws, options)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
            out["error"] = exc
            started.set()
        finally:
            ws.close()

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    assert started.wait(60), "the stream did not start"
    try:
        yield out
    finally:
        request_stop()
        thread.join(60)
        reset_stop()
    if "error" in out:
        raise out["error"]
    summary: StreamSummary = out["summary"]
    out["totals"] = summary.totals


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def list_members(base_url: str, name: str) -> set[str]:
    """Emails of the Klaviyo list called ``name`` (the emulator's state)."""
    state = httpx.get(f"{base_url}/__emulator__/state").json()
    for lst in state["lists"].values():
        if lst["name"].endswith(name):
            return {state["profiles"][pid]["email"] for pid in lst.get("members", [])}
    return set()
