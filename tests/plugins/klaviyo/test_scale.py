"""The issue's "Done when" at full size: 30,000 profiles, 300,000 events, real rate limits.

Slow (about a minute): run with ``-m slow``.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from klaviyo_support import Identities, apply_all, member, upsert

from cdp_klaviyo import SPEC
from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_klaviyo.mapping import EVENT_TYPES_BY_METRIC
from connector.plugin.changes import ChangeKind, OutcomeStatus, SegmentRef
from connector.plugin.spec import EmulatorOptions
from connector.testing.context import make_context

pytestmark = pytest.mark.slow
LOOKBACK = timedelta(minutes=10)
SEGMENTS = [SegmentRef(f"tier-{n}", f"Tier {n}") for n in range(5)]


@pytest.fixture(scope="module")
def big() -> Iterator[KlaviyoEmulator]:
    with KlaviyoEmulator(EmulatorOptions(seed_profiles=30_000, limits="real", seed=11)) as emu:
        yield emu


def _settings(emu):
    return {"api_key": "pk_test", "base_url": emu.base_url, "poll_interval": 0.05}


def _log(emu, path, since):
    return [r for r in emu.recorder.entries() if r.path == path and r.time >= since]


def _mapped(emu):
    names = {mid: m["name"] for mid, m in emu.store.metrics.items()}
    return [e for e in emu.store.events.values() if names[e["metric_id"]] in EVENT_TYPES_BY_METRIC]


@pytest.mark.long
def test_full_then_incremental_pull(big, tmp_path) -> None:
    source = SPEC.source(_settings(big), make_context(tmp_path))
    streams = {s.name: s for s in source.streams()}
    profiles = [r["source_id"] for r in source.read(streams["profiles"], None)]
    assert len(profiles) == len(set(profiles)) == 30_000
    events = list(source.read(streams["events"], None))
    ids = [e["source_event_id"] for e in events]
    assert len(big.store.events) == 300_000
    assert len(ids) == len(set(ids)) == len(_mapped(big))

    profile_mark = max(p["updated"] for p in big.store.profiles.values())
    event_mark = max(datetime.fromisoformat(e["occurred_at"]) for e in events)
    big.seed({"update_profiles": 1_000, "new_events": 5_000})
    started = time.time()
    p_since = datetime.fromtimestamp(profile_mark, UTC) - LOOKBACK
    changed = [r["source_id"] for r in source.read(streams["profiles"], p_since.isoformat())]
    touched = {pid for pid, p in big.store.profiles.items() if p["updated"] > profile_mark}
    assert len(touched) == 1_000
    overlap = {
        pid
        for pid, p in big.store.profiles.items()
        if p_since.timestamp() - 1 < p["updated"] <= profile_mark
    }
    assert sorted(changed) == sorted(touched | overlap)
    # From the request log: one filtered query, paged exactly as far as the changes go, and
    # one page of the profiles suppressed since the bound (none here)
    profile_requests = _log(big, "/api/profiles", started)
    bound = (p_since - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    by_updated = [r for r in profile_requests if "(updated," in r.query["filter"][0]]
    assert {r.query["filter"][0] for r in by_updated} == {f"greater-than(updated,{bound})"}
    assert len(by_updated) == max(1, math.ceil(len(changed) / 100))
    assert len(profile_requests) == len(by_updated) + 1

    e_since = event_mark - LOOKBACK
    started = time.time()
    new_events = [r["source_event_id"] for r in source.read(streams["events"], e_since.isoformat())]
    expected = {e["id"] for e in _mapped(big) if e["timestamp"] >= e_since.timestamp()}
    fresh = {e["id"] for e in _mapped(big) if e["timestamp"] > event_mark.timestamp()}
    assert len(fresh) > 4_000  # 5,000 new events, minus those of the unmapped metric
    assert sorted(new_events) == sorted(expected)
    event_requests = _log(big, "/api/events", started)
    stamp = e_since.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(
        r.query["filter"][0].endswith(f",greater-or-equal(datetime,{stamp})")
        for r in event_requests
    )
    assert len(event_requests) <= len(EVENT_TYPES_BY_METRIC) + math.ceil(len(expected) / 1000)


def _tier(score: float) -> int:
    return min(4, int(score * 5))


@pytest.mark.long
def test_push_traits_and_lists_then_a_small_second_run(big, tmp_path) -> None:
    ctx = make_context(tmp_path)
    sink = SPEC.sink(_settings(big), ctx)
    sink.prepare([], SEGMENTS)
    rng = random.Random(5)
    people = sorted(big.store.profiles.values(), key=lambda p: p["id"])
    scores = {f"p-{p['id']}": rng.random() for p in people}
    contact = {f"p-{p['id']}": (p.get("email"), p.get("phone_number"), p["id"]) for p in people}
    ids = Identities()
    jobs_before = len(big.store.jobs)

    def recipient(pid):
        email, phone, _ = contact[pid]
        return ids.recipient(pid, email, phone)

    ups = [upsert(recipient(pid), {"score": s, "legacy_flag": True}) for pid, s in scores.items()]
    outcomes = apply_all(sink, ups, ids)
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    assert len(big.store.jobs) - jobs_before <= 3
    assert ids.ids == {pid: c[2] for pid, c in contact.items()}
    adds = [member(ChangeKind.ADD, recipient(pid), SEGMENTS[_tier(s)]) for pid, s in scores.items()]
    assert all(o.status is OutcomeStatus.OK for o in apply_all(sink, adds, ids))

    def check_state():
        state = big.snapshot()
        for n, seg in enumerate(SEGMENTS):
            want = sorted(contact[pid][2] for pid, s in scores.items() if _tier(s) == n)
            assert state["lists"][ctx.state.get(f"list:{seg.id}")]["members"] == want
        return state

    state = check_state()
    assert len(state["lists"]) == 5

    # Second run: 1% of scores change; the planner would emit just these upserts and moves.
    started, jobs_before = time.time(), len(big.store.jobs)
    changed = rng.sample(sorted(scores), 300)
    moves = []
    for pid in changed:
        old = _tier(scores[pid])
        scores[pid] = rng.random()
        if _tier(scores[pid]) != old:
            moves.append((pid, old, _tier(scores[pid])))
    ups = [upsert(recipient(pid), {"score": scores[pid]}, unset=["legacy_flag"]) for pid in changed]
    removes = [member(ChangeKind.REMOVE, recipient(pid), SEGMENTS[old]) for pid, old, _ in moves]
    adds = [member(ChangeKind.ADD, recipient(pid), SEGMENTS[new]) for pid, _, new in moves]
    outcomes = apply_all(sink, ups + removes + adds, ids)
    assert all(o.status is OutcomeStatus.OK for o in outcomes)
    new_jobs = list(big.store.jobs.values())[jobs_before:]
    assert [j["total_count"] for j in new_jobs] == [300]
    assert not _log(big, "/api/profiles", started)  # every id was known: no lookups
    member_calls = [
        (r.method, r.path)
        for r in big.recorder.entries()
        if r.time >= started and r.path.endswith("/relationships/profiles")
    ]
    list_ids = {seg.id: ctx.state.get(f"list:{seg.id}") for seg in SEGMENTS}
    needed = {
        ("DELETE", f"/api/lists/{list_ids[SEGMENTS[old].id]}/relationships/profiles")
        for _, old, _ in moves
    }
    needed |= {
        ("POST", f"/api/lists/{list_ids[SEGMENTS[new].id]}/relationships/profiles")
        for _, _, new in moves
    }
    assert moves
    assert sorted(member_calls) == sorted(needed)  # one call per list and direction, no more
    state = check_state()
    for pid in changed:
        assert "legacy_flag" not in state["profiles"][contact[pid][2]]["properties"]
    untouched = next(pid for pid in scores if pid not in set(changed))
    assert state["profiles"][contact[untouched][2]]["properties"]["legacy_flag"] is True
