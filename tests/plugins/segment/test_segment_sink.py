"""Traits out as identify calls: only changes, within Segment's limits, one outcome each."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from cdp_segment import SPEC
from cdp_segment.emulator import SegmentEmulator
from cdp_segment.settings import SegmentSettings
from cdp_segment.sink import SegmentSink
from conftest import Ledger, apply_all
from connector.errors import AuthError
from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.plugin.spec import EmulatorOptions
from connector.testing.context import make_context

Settings = Callable[..., SegmentSettings]


def _desired(n: int, bump: set[int] = frozenset()) -> dict[str, tuple[Recipient, dict[str, Any]]]:  # type: ignore[assignment]
    out = {}
    for i in range(n):
        ids = {"segment_user_id": f"usr_{i}"} if i % 4 else {"segment_anonymous_id": f"anon_{i}"}
        if i % 10 == 9:
            ids = {}
        recipient = Recipient(f"prof_{i:06d}", email=f"c{i}@shop.example", ids=ids)
        traits = {
            "clv_90d": round(i * 1.37, 2),
            "churn_risk": "high" if i % 3 else "low",
            "p_alive": (i % 100) / 100 + (0.5 if i in bump else 0),
        }
        out[f"prof_{i:06d}"] = (recipient, traits)
    return out


def _identifies(emu: SegmentEmulator) -> list[dict[str, Any]]:
    return [m for m in emu.messages if m["type"] == "identify"]


def _run_sync(n: int, emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path) -> None:
    sink = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    ledger = Ledger()
    changes = ledger.plan(_desired(n))
    outcomes = apply_all(sink, changes)
    assert Counter(o.status for o in outcomes) == {"ok": n}
    ledger.commit(changes, outcomes)
    sent = _identifies(emulator)
    assert len(sent) == n
    by_user = {m.get("userId") or m.get("anonymousId"): m for m in sent}
    assert by_user["usr_1"]["traits"] == {
        "cdp_clv_90d": 1.37,
        "cdp_churn_risk": "high",
        "cdp_p_alive": 0.01,
    }
    assert "anon_0" in by_user
    assert by_user["anon_0"]["userId"] is None
    assert by_user["prof_000009"]["traits"]["email"] == "c9@shop.example"  # fallback id
    # Rerun with 1% of profiles changed: only those are sent.
    bump = set(range(0, n, 100))
    before = len(emulator.messages)
    rerun = ledger.plan(_desired(n, bump))
    assert len(rerun) == len(bump)
    assert all(o.status == "ok" for o in apply_all(sink, rerun))
    resent = emulator.messages[before:]
    assert len(resent) == len(bump)
    assert {m.get("userId") or m.get("anonymousId") for m in resent} == {
        (f"usr_{i}" if i % 4 else f"anon_{i}") if i % 10 != 9 else f"prof_{i:06d}" for i in bump
    }
    sink.close()


def test_traits_reach_segment_and_a_rerun_sends_only_changes(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    _run_sync(2_000, emulator, settings_for, tmp_path)


@pytest.mark.slow
def test_50k_profiles_then_1_percent_changes(settings_for: Settings, tmp_path: Path) -> None:
    with SegmentEmulator() as emu:
        _run_sync(50_000, emu, settings_for, tmp_path)


def test_oversized_message_is_rejected_alone(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    sink = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    changes = [
        Change(
            ChangeKind.UPSERT,
            Recipient(f"p{i}", ids={"segment_user_id": f"u{i}"}),
            f"p{i}",
            f"d{i}",
            traits={"note": "x" * (40_000 if i == 3 else 10)},
        )
        for i in range(6)
    ]
    outcomes = sink.apply(changes)
    assert [o.status for o in outcomes] == ["ok", "ok", "ok", "rejected", "ok", "ok"]
    assert "32 KB" in outcomes[3].reason
    assert "p3" in outcomes[3].reason
    assert sorted(m["userId"] for m in _identifies(emulator)) == ["u0", "u1", "u2", "u4", "u5"]
    sink.close()


def test_refused_batch_is_split_to_isolate_the_bad_message(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    # The first batch is refused as a whole (400); the sink resends one by one and only the
    # message Segment still refuses is rejected, with Segment's own reason.
    httpx.post(
        f"{emulator.base_url}/__emulator__/faults",
        json={
            "rules": [
                {
                    "path": "/v1/batch",
                    "status": 400,
                    "count": 1,
                    "body": {"code": "invalid_request", "message": "bad trait value"},
                }
            ]
        },
    )
    sink = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    changes = [
        Change(
            ChangeKind.UPSERT,
            Recipient(f"p{i}", ids={"segment_user_id": f"u{i}"}),
            f"p{i}",
            f"d{i}",
            traits={"score": i},
        )
        for i in range(5)
    ]
    outcomes = sink.apply(changes)
    assert [o.status for o in outcomes] == ["ok"] * 5
    assert sorted(m["userId"] for m in _identifies(emulator)) == [f"u{i}" for i in range(5)]
    sink.close()


def test_transient_failures_are_retried_then_reported_retryable(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    faults = f"{emulator.base_url}/__emulator__/faults"
    httpx.post(faults, json={"rules": [{"path": "/v1/batch", "status": 503, "count": 2}]})
    sink = SegmentSink(
        settings_for(base_url=emulator.base_url, max_attempts=4), make_context(tmp_path)
    )
    change = Change(
        ChangeKind.UPSERT,
        Recipient("p1", ids={"segment_user_id": "u1"}),
        "p1",
        "d1",
        traits={"score": 1},
    )
    assert sink.apply([change])[0].status == "ok"
    httpx.post(faults, json={"rules": [{"path": "/v1/batch", "status": 503}]})
    later = sink.apply([Change(ChangeKind.UPSERT, change.recipient, "p1", "d2", traits={"s": 2})])
    assert later[0].status == "retryable"
    assert "503" in later[0].reason
    sink.close()


def test_refused_write_key_raises_auth_error(settings_for: Settings, tmp_path: Path) -> None:
    with SegmentEmulator(write_keys={"the-right-key"}) as emu:
        sink = SegmentSink(settings_for(base_url=emu.base_url), make_context(tmp_path))
        change = Change(
            ChangeKind.UPSERT,
            Recipient("p1", ids={"segment_user_id": "u1"}),
            "p1",
            "d1",
            traits={"score": 1},
        )
        with pytest.raises(AuthError):
            sink.apply([change])
        sink.close()


def test_memberships_become_boolean_traits_and_unset_sends_null(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    sink = SPEC.sink(
        settings_for(base_url=emulator.base_url, trait_prefix="ai_"),  # type: ignore[misc]
        make_context(tmp_path),
    )
    who = Recipient("p1", ids={"segment_user_id": "u1"})
    seg = SegmentRef("high-value", "High value")
    assert sink.consent == "ads"  # Segment relays to ad tools (issue 20)
    outcomes = sink.apply([Change(ChangeKind.ADD, who, "p1:high-value", "in", segment=seg)])
    outcomes = [
        *outcomes,
        *sink.apply([Change(ChangeKind.UPSERT, who, "p1", "d", traits={"a": 1}, unset=("old",))]),
    ]
    outcomes = [
        *outcomes,
        *sink.apply([Change(ChangeKind.REMOVE, who, "p1:high-value", "out", segment=seg)]),
    ]
    assert [o.status for o in outcomes] == ["ok"] * 3
    assert emulator.snapshot()["users"]["u1"] == {
        "ai_segment_high_value": False,
        "ai_a": 1,
        "ai_old": None,
    }
    no_id = sink.apply([Change(ChangeKind.UPSERT, Recipient("p2"), "p2", "d", traits={"a": 1})])
    assert no_id[0].status == "rejected"
    assert "p2" in no_id[0].reason
    sink.close()


def test_a_clear_or_a_removal_does_not_send_the_address_again(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    """Consent withdrawn or an erasure: the person is addressed by the userId our first
    identify gave them; their e-mail is not fanned out to Segment's destinations once more.
    A routine list exit keeps it (tools downstream may key on it)."""
    sink = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    who = Recipient("p9", email="ann@shop.example")
    seg = SegmentRef("high-value", "High value")
    low = SegmentRef("low-value", "Low value")
    sent = [
        Change(ChangeKind.UPSERT, who, "p9", "d", traits={"clv": 10}),
        Change(ChangeKind.ADD, who, "p9:high-value", "in", segment=seg),
        Change(ChangeKind.REMOVE, who, "p9:low-value", "out", segment=low),
        Change(ChangeKind.UPSERT, who, "p9", "cleared", unset=("clv",), clears=True),
        Change(ChangeKind.REMOVE, who, "p9:high-value", "out", segment=seg, clears=True),
    ]
    assert [o.status for c in sent for o in sink.apply([c])] == ["ok"] * 5
    sink.close()
    messages = _identifies(emulator)
    assert {m["userId"] for m in messages} == {"p9"}
    assert [m["traits"].get("email") for m in messages] == [
        "ann@shop.example",
        "ann@shop.example",
        "ann@shop.example",
        None,
        None,
    ]
    assert messages[3]["traits"] == {"cdp_clv": None}
    assert messages[4]["traits"] == {"cdp_segment_high_value": False}


def test_spec_emulator_honours_seed_profiles() -> None:
    with SPEC.emulator(EmulatorOptions(seed_profiles=5)) as emu:  # type: ignore[misc]
        assert httpx.get(f"{emu.base_url}/__emulator__/state").json()["profiles"] == 10


def test_a_segment_user_we_made_is_reported_so_reading_it_back_is_an_echo(
    emulator: SegmentEmulator, settings_for: Settings, tmp_path: Path
) -> None:
    """A person Segment knew by no id of its own is identified under our profile id: a Segment
    user we made. The sink reports it (the core keeps it in ``created_ids``), so the Segment
    source reading that identify back cannot keep the person active once they are deleted
    where they came from. Later identifies still carry the email."""
    sink = SegmentSink(settings_for(base_url=emulator.base_url), make_context(tmp_path))
    ours = Recipient("p_ours", email="o@shop.example")
    theirs = Recipient("p_theirs", email="t@shop.example", ids={"segment_user_id": "u9"})
    first = sink.apply(
        [
            Change(ChangeKind.UPSERT, ours, "p_ours", "d1", traits={"a": 1}),
            Change(ChangeKind.UPSERT, theirs, "p_theirs", "d1", traits={"a": 1}),
        ]
    )
    assert [dict(o.learned_ids) for o in first] == [{"segment_user_id": "p_ours"}, {}]
    learned = Recipient("p_ours", email="o@shop.example", ids={"segment_user_id": "p_ours"})
    again = sink.apply([Change(ChangeKind.UPSERT, learned, "p_ours", "d2", traits={"a": 2})])
    assert again[0].status == "ok"
    sink.close()
    sent = [m for m in _identifies(emulator) if m["userId"] == "p_ours"]
    assert [m["traits"].get("email") for m in sent] == ["o@shop.example", "o@shop.example"]
