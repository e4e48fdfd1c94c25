"""The Segment sink's erase hook: a Public API regulation for the userIds we sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cdp_segment.emulator import SegmentEmulator
from cdp_segment.settings import SegmentSettings
from cdp_segment.sink import SegmentSink
from connector.errors import ConfigError
from connector.plugin.changes import Change, ChangeKind, Recipient
from connector.testing.context import make_context

Settings = Callable[..., SegmentSettings]
KNOWN = Recipient("p1", email="known@example.com", ids={"segment_user_id": "usr_1"})
BY_EMAIL = Recipient("p2", email="ours@example.com")
ANONYMOUS = Recipient("p3", ids={"segment_anonymous_id": "anon_3"})


def _sink(
    emulator: SegmentEmulator, settings_for: Settings, tmp: Path, **extra: Any
) -> SegmentSink:
    settings = settings_for(
        base_url=emulator.base_url,
        privacy_regulation=True,
        public_api_token=SecretStr("papi"),
        public_api_url=emulator.base_url,
        **extra,
    )
    return SegmentSink(settings, make_context(tmp))


def test_erase_regulates_the_user_ids_our_identify_calls_used(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    emulator.seed({"public_api_tokens": ["papi"]})
    sink = _sink(emulator, settings_for, tmp_path)
    people = (KNOWN, BY_EMAIL, ANONYMOUS)
    changes = [
        Change(ChangeKind.UPSERT, r, r.profile_id, "d1", traits={"tier": "A"}) for r in people
    ]
    assert [o.status for o in sink.apply(changes)] == ["ok"] * 3
    assert set(emulator.snapshot()["users"]) == {"usr_1", "p2"}

    assert [o.status for o in sink.erase(people)] == ["ok"] * 3
    state = emulator.snapshot()
    # one workspace regulation naming the userIds sent; the anonymous-only person has none
    assert [
        (r["regulationType"], r["subjectIds"], r["sourceId"]) for r in state["regulations"]
    ] == [("SUPPRESS_WITH_DELETE", ["usr_1", "p2"], None)]
    assert state["users"] == {}  # Segment deleted them
    assert "known@example.com" not in str(state["messages"])
    # suppressed: a later identify for that userId is accepted and dropped
    again = Change(ChangeKind.UPSERT, KNOWN, "p1", "d2", traits={"tier": "B"})
    assert [o.status for o in sink.apply([again])] == ["ok"]
    assert "usr_1" not in emulator.snapshot()["users"]
    sink.close()


def test_a_source_scoped_delete_only_regulation(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    sink = _sink(
        emulator,
        settings_for,
        tmp_path,
        regulation_type="DELETE_ONLY",
        regulation_source_id="src_9",
    )
    assert [o.status for o in sink.erase([KNOWN])] == ["ok"]
    (reg,) = emulator.snapshot()["regulations"]
    assert (reg["regulationType"], reg["sourceId"], reg["subjectType"]) == (
        "DELETE_ONLY",
        "src_9",
        "USER_ID",
    )
    log = httpx.get(f"{emulator.base_url}/__emulator__/requests").json()["requests"]
    assert [r["path"] for r in log if r["path"].startswith("/regulations")] == [
        "/regulations/sources/src_9"
    ]
    sink.close()


def test_a_throttled_regulation_is_retried_and_a_refused_one_rejected(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    faults = f"{emulator.base_url}/__emulator__/faults"
    httpx.post(faults, json={"rules": [{"path": "/regulations", "status": 429, "count": 2}]})
    sink = _sink(emulator, settings_for, tmp_path)
    assert [o.status for o in sink.erase([KNOWN])] == ["ok"]
    assert len(emulator.snapshot()["regulations"]) == 1
    body = {"errors": [{"type": "validation", "message": "bad subject"}]}
    httpx.post(faults, json={"rules": [{"path": "/regulations", "status": 422, "body": body}]})
    (refused,) = sink.erase([BY_EMAIL])
    assert refused.status == "rejected"
    assert "bad subject" in (refused.reason or "")
    httpx.post(faults, json={"rules": [{"path": "/regulations", "status": 503}]})
    (later,) = sink.erase([BY_EMAIL])
    assert later.status == "retryable"  # the next run asks again
    sink.close()


def test_off_by_default_and_the_token_is_required(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    plain = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    assert [o.status for o in plain.erase([KNOWN])] == ["ok"]
    assert emulator.snapshot()["regulations"] == []
    plain.close()
    with pytest.raises(ConfigError, match="public_api_token"):
        SegmentSink(settings_for(privacy_regulation=True), make_context(tmp_path))
