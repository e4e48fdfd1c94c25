"""The Segment emulator speaks the wire protocol the official SDK expects."""

from __future__ import annotations

import gzip
import json
from bisect import bisect_left, bisect_right
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from segment.analytics import Client
from segment.analytics.request import APIError, post

from cdp_segment import SPEC
from cdp_segment.emulator import SegmentEmulator
from connector.plugin.spec import EmulatorOptions


def test_sdk_batches_are_recorded_with_identify_traits(emulator: SegmentEmulator) -> None:
    errors: list[object] = []
    client = Client(
        "wk",
        host=emulator.base_url,
        gzip=True,
        upload_interval=0.05,
        on_error=lambda exc, batch: errors.append(exc),
    )
    for i in range(150):
        client.identify(f"u{i}", {"cdp_score": i})
    client.track("u1", "Order Completed", {"revenue": 10.0})
    client.shutdown()
    state = httpx.get(f"{emulator.base_url}/__emulator__/state").json()
    assert errors == []
    assert len(state["messages"]) == 151
    assert state["users"]["u7"] == {"cdp_score": 7}
    assert state["batches"] >= 2  # the SDK splits at 100 messages


def test_bad_write_key_is_401_in_segment_error_shape() -> None:
    with SegmentEmulator(write_keys={"good"}) as emu:
        with pytest.raises(APIError) as info:
            post("bad", host=emu.base_url, batch=[{"type": "identify", "userId": "u1"}])
        assert info.value.status == 401
        assert info.value.code == "unauthorized"
        assert emu.messages == []


def test_size_limits_answer_400_with_code_and_message(emulator: SegmentEmulator) -> None:
    big = {"type": "identify", "userId": "u1", "traits": {"blob": "x" * (33 << 10)}}
    with pytest.raises(APIError) as info:
        post("wk", host=emulator.base_url, batch=[big])
    assert info.value.status == 400
    assert "32KB" in info.value.message
    many = [
        {"type": "identify", "userId": f"u{i}", "traits": {"t": "y" * 20_000}} for i in range(30)
    ]
    body = gzip.compress(json.dumps({"batch": many}).encode())
    resp = httpx.post(
        f"{emulator.base_url}/v1/batch",
        content=body,
        auth=("wk", ""),
        headers={"Content-Encoding": "gzip"},
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"code", "message"}
    assert emulator.messages == []


def test_injected_503_then_sdk_retry_delivers(emulator: SegmentEmulator) -> None:
    httpx.post(
        f"{emulator.base_url}/__emulator__/faults",
        json={"rules": [{"path": "/v1/batch", "status": 503, "count": 2}]},
    )
    client = Client("wk", host=emulator.base_url, upload_interval=0.05, max_retries=5)
    client.identify("u1", {"a": 1})
    client.shutdown()
    log = httpx.get(f"{emulator.base_url}/__emulator__/requests").json()["requests"]
    assert [r["status"] for r in log if r["path"] == "/v1/batch"] == [503, 503, 200]
    assert emulator.snapshot()["users"]["u1"] == {"a": 1}


def test_profile_api_pages_traits_by_cursor() -> None:
    with SPEC.emulator(EmulatorOptions(seed_profiles=3)) as emu:  # type: ignore[misc]
        url = (
            f"{emu.base_url}/v1/spaces/sp1/collections/users/profiles/user_id:usr_0000000002/traits"
        )
        traits: dict[str, object] = {}
        params: dict[str, object] = {"limit": 3}
        pages = 0
        while True:
            body = httpx.get(url, params=params, auth=("token", "")).json()
            traits.update(body["traits"])
            pages += 1
            if not body["cursor"]["has_more"]:
                break
            params = {"limit": 3, "next": body["cursor"]["next"]}
        assert pages == 3
        assert {"email", "firstName", "address", "plan"} <= set(traits)
        missing = httpx.get(url.replace("usr_0000000002", "nobody"), auth=("token", ""))
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        assert httpx.get(url).status_code == 401


def test_profile_api_never_serves_more_than_100_per_second() -> None:
    """Property check, not a timing assert: whatever the machine's speed, no 1 s window of
    the request log holds more than 100 answered requests, and refusals are Segment 429s."""
    with SegmentEmulator(EmulatorOptions(seed_profiles=1, limits="real")) as emu:
        url = (
            f"{emu.base_url}/v1/spaces/sp1/collections/users/profiles/user_id:usr_0000000000/traits"
        )

        def burst(_: int) -> list[httpx.Response]:
            with httpx.Client(auth=("token", "")) as client:
                return [client.get(url) for _ in range(60)]

        with ThreadPoolExecutor(4) as pool:
            responses = [r for batch in pool.map(burst, range(4)) for r in batch]
        for resp in responses:
            if resp.status_code == 429:
                assert resp.json()["error"]["code"] == "rate_limit_error"
                assert int(resp.headers["Retry-After"]) >= 1
            else:
                assert resp.status_code == 200
        served = sorted(r.time for r in emu.recorder.entries() if r.status == 200)
        assert all(bisect_right(served, t + 1.0) - bisect_left(served, t) <= 101 for t in served)
