"""Issue 12, Klaviyo: an account that changes while we read it.

Late and backfilled events (created through the official SDK's ``create_event`` with a
``time`` in the past, after the connector's cursor passed it), refunds and cancellations, and
profiles deleted or merged away, read through the real pull stage into a real workspace.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from klaviyo_api import KlaviyoAPI

from cdp_klaviyo import SPEC
from connector.config import load_config
from connector.pipeline import Workspace
from connector.pipeline.pull import PullResult, pull_source
from connector.schema.records import validate_event

HOUR = 3600.0


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def sdk(emulator: Any) -> KlaviyoAPI:
    return KlaviyoAPI("pk_test", max_delay=0.1, max_retries=1, test_host=emulator.base_url)


def create_event(
    api: KlaviyoAPI,
    metric: str,
    email: str,
    at: float,
    *,
    unique_id: str,
    value: float | None = None,
    properties: dict[str, Any] | None = None,
) -> None:
    attrs: dict[str, Any] = {
        "properties": properties or {"Items": []},
        "time": _iso(at),
        "unique_id": unique_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
    }
    if value is not None:
        attrs["value"] = value
    api.Events.create_event({"data": {"type": "event", "attributes": attrs}})


class Pulls:
    """A workspace with one Klaviyo source; ``run()`` is one pull stage."""

    def __init__(self, root: Path, emulator: Any, extra: str = "") -> None:
        cfg = root / "connector.toml"
        cfg.write_text(
            f"""
[workspace]
path = ".connector"

[sources.klaviyo]
plugin = "klaviyo"
api_key = {{ env = "KL_TEST_KEY" }}
base_url = "{emulator.base_url}"
profile_reconcile_hours = 0
timeout = 5
{extra}
"""
        )
        self.config = load_config(cfg, env={"KL_TEST_KEY": "pk_test"})
        self.ws = Workspace(self.config)
        self.n = 0

    def run(self) -> PullResult:
        self.n += 1
        cfg = self.config.sources["klaviyo"]
        result = pull_source(self.ws, "klaviyo", cfg, run_id=f"r{self.n}", dry_run=False)
        assert result.failed is None, result.failed
        return result

    def event_counts(self) -> dict[str, int]:
        frame = self.ws.data.query(
            "SELECT source_event_id, count(*) AS n FROM events WHERE source = 'klaviyo' GROUP BY 1"
        )
        return dict(zip(frame["source_event_id"], frame["n"], strict=True))


@pytest.fixture
def pulls(tmp_path: Path, emulator: Any) -> Any:
    p = Pulls(tmp_path, emulator)
    yield p
    p.ws.close()


def _emails(emulator: Any, n: int) -> list[str]:
    return [p["email"] for p in emulator.store.profiles.values() if p.get("email")][:n]


def test_events_arriving_up_to_72_hours_late_are_all_ingested_once(emulator, pulls) -> None:
    api = sdk(emulator)
    emails = _emails(emulator, 20)
    now = time.time()
    for i, email in enumerate(emails):  # fresh activity: the cursor moves to about now
        create_event(api, "Placed Order", email, now - i, unique_id=f"fresh-{i}", value=10.0)
    pulls.run()
    mark = pulls.ws.cursors.get("klaviyo", "events")
    assert mark is not None
    assert datetime.fromisoformat(mark).timestamp() >= now - 60

    # After the cursor passed them: 48 events dated 1 h .. 72 h before they reach Klaviyo
    # (a backfill, a delayed integration), on several metrics.
    arrival = time.time()
    late: list[float] = [arrival - HOUR * (1 + 71 * k / 47) for k in range(48)]
    metrics = ("Placed Order", "Viewed Product", "Opened Email")
    before = set(emulator.store.events)
    for k, at in enumerate(late):
        create_event(api, metrics[k % 3], emails[k % 20], at, unique_id=f"late-{k}", value=5.0)
    late_ids = set(emulator.store.events) - before
    assert len(late_ids) == 48

    second = pulls.run()
    counts = pulls.event_counts()
    missing = sorted(late_ids - set(counts))
    assert missing == [], f"{len(missing)} of 48 late events never ingested"
    assert all(counts[i] == 1 for i in late_ids)
    assert second.streams["events"]["new"] == 48

    # Re-reading the window is cheap: nothing is new, and it costs one page per metric.
    start = time.time()
    third = pulls.run()
    assert third.streams["events"]["new"] == 0
    assert third.streams["events"]["pulled"] >= 48 + 20
    pages = [r for r in emulator.recorder.entries() if r.path == "/api/events" and r.time >= start]
    mapped = [m for m in emulator.store.metrics.values() if m["name"] in metrics]
    assert len(pages) <= len(emulator.store.metrics)
    assert len(mapped) >= 3
    assert sum(pulls.event_counts().values()) == len(pulls.event_counts())


def test_the_events_lookback_is_configurable_per_stream(tmp_path, emulator) -> None:
    pulls = Pulls(tmp_path, emulator, 'stream_lookback = { events = "2h" }')
    try:
        api = sdk(emulator)
        email = _emails(emulator, 1)[0]
        create_event(api, "Placed Order", email, time.time(), unique_id="fresh", value=1.0)
        pulls.run()
        start = time.time()
        pulls.run()
        sent = [
            r.query["filter"][0]
            for r in emulator.recorder.entries()
            if r.path == "/api/events" and r.time >= start
        ]
        mark = datetime.fromisoformat(pulls.ws.cursors.get("klaviyo", "events") or "")
        bound = datetime.fromtimestamp(mark.timestamp() - 2 * HOUR, UTC)
        assert sent
        assert all(f"greater-or-equal(datetime,{bound:%Y-%m-%dT%H:%M:%SZ})" in f for f in sent)
    finally:
        pulls.ws.close()


def test_refunds_and_cancellations_are_pulled_and_point_at_their_order(emulator, ctx) -> None:
    names = {mid: m["name"] for mid, m in emulator.store.metrics.items()}
    orders = [e for e in emulator.store.events.values() if names[e["metric_id"]] == "Placed Order"]
    refunded, cancelled = orders[0], orders[1]
    api = sdk(emulator)
    for order, metric, value in (
        (refunded, "Refunded Order", 12.5),
        (cancelled, "Cancelled Order", None),
    ):
        profile = emulator.store.profiles[order["profile_id"]]
        create_event(
            api,
            metric,
            profile["email"] or "",
            order["timestamp"] + 86400,
            unique_id=f"{metric}-{order['id']}",
            value=value,
            properties={"$event_id": order["properties"]["$event_id"], "Reason": "customer"},
        )
    source = SPEC.source({"api_key": "pk_test", "base_url": emulator.base_url}, ctx)
    events = {s.name: s for s in source.streams()}["events"]
    records = [validate_event(r, source="klaviyo", region="US") for r in source.read(events, None)]
    by_type = {r.type: r for r in records if r.type in ("order_refunded", "order_cancelled")}
    order_ids = {
        r.source_event_id: r.properties["order_id"] for r in records if r.type == "order_completed"
    }
    refund, cancel = by_type["order_refunded"], by_type["order_cancelled"]
    assert refund.properties["order_id"] == order_ids[refunded["id"]]
    assert refund.revenue == 12.5
    assert cancel.properties["order_id"] == order_ids[cancelled["id"]]
    assert cancel.revenue is None  # the whole order
    assert refund.properties["reason"] == "customer"
