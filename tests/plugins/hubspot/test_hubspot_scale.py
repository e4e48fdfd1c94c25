"""The issue's "Done when" scenarios at full size (slow: run with ``-m slow``)."""

from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest
from hubspot_helpers import apply_all, member, recorded, settings_for, upsert

from cdp_hubspot import SPEC
from cdp_hubspot.emulator import HubSpotEmulator
from cdp_hubspot.emulator.values import now_ms
from connector.emulator import FaultRule
from connector.plugin.changes import Change, ChangeKind, OutcomeStatus, SegmentRef, TraitSpec
from connector.plugin.spec import EmulatorOptions
from connector.schema.normalise import parse_timestamp, to_iso
from connector.testing import make_context

pytestmark = pytest.mark.slow

PROFILES = 25_000
LOOKBACK = timedelta(minutes=10)
TRAITS = [
    TraitSpec("churn_score", "number", "Churn score"),
    TraitSpec("value_tier", "enum", "Value tier", options=("gold", "silver", "bronze")),
    TraitSpec("next_order_date", "date", "Next order date"),
]
SEGMENTS = [SegmentRef(f"seg-{i}", f"Segment {i}") for i in range(5)]


def _read(source, name: str, since: str | None):
    stream = next(s for s in source.streams() if s.name == name)
    return list(source.read(stream, since))


@pytest.mark.long
def test_full_pull_beats_the_cap_and_next_run_reads_only_changes(tmp_path):
    with HubSpotEmulator(EmulatorOptions(limits="off")) as emu:
        emu.seed({"profiles": PROFILES, "deals": 8_000})
        source = SPEC.source(settings_for(emu), make_context(tmp_path))  # type: ignore[misc]
        contacts = _read(source, "contacts", None)
        assert len(contacts) == PROFILES
        assert len({c["source_id"] for c in contacts}) == PROFILES
        deals = _read(source, "deals", None)
        won = {r for r, d in emu.deals.records.items() if d.props["hs_is_closed_won"] == "true"}
        assert sorted(d["source_event_id"] for d in deals) == sorted(won)
        assert all(e.status == 200 for e in recorded(emu)), "never paged past the cap"

        mark = max(c["updated_at"] for c in contacts)
        since = to_iso(parse_timestamp(mark) - LOOKBACK)
        modified = sorted(emu.contacts.records, key=int)[::50][:500]
        for start in range(0, 500, 100):
            for rid in modified[start : start + 100]:
                emu.contacts.touch(emu.contacts.records[rid], {"city": "Porto"}, emu_now_ms())
        recorded(emu)
        emu.recorder.clear()
        again = _read(source, "contacts", since)
        overlap = sum(1 for c in contacts if c["updated_at"] >= since)
        assert {c["source_id"] for c in again} >= set(modified)
        assert len(again) == 500 + overlap
        searches = [json.loads(e.body or "{}") for e in recorded(emu) if "search" in e.path]
        assert len(searches) == math.ceil((500 + overlap) / 200)
        since_ms = int(parse_timestamp(since).timestamp() * 1000)
        for body in searches:
            _upper, flt, _key = body["filterGroups"][0]["filters"]
            assert (flt["propertyName"], flt["operator"], int(flt["value"])) == (
                "lastmodifieddate",
                "GTE",
                since_ms,
            )


def emu_now_ms() -> int:
    return now_ms()


def _desired(n: int, version: int = 0) -> tuple[dict[str, dict[str, object]], dict[str, set[str]]]:
    traits, segments = {}, {s.id: set() for s in SEGMENTS}
    for i in range(n):
        changed = version and i % 100 == 0
        score = (i % 1000) / 1000 + (0.5 if changed else 0)
        traits[f"p{i}"] = {
            "churn_score": round(score, 3),
            "value_tier": ("gold", "silver", "bronze")[(i + (1 if changed else 0)) % 3],
            "next_order_date": "2027-01-01",
        }
        for k, seg in enumerate(SEGMENTS):
            if (i + (1 if changed else 0)) % (k + 2) == 0:
                segments[seg.id].add(f"p{i}")
    return traits, segments


def _check_state(emu: HubSpotEmulator, sink, traits, segments, ids):
    for pid, want in traits.items():
        got = emu.contacts.records[ids[pid]].props
        assert float(got["churn_score"]) == want["churn_score"]
        assert got["value_tier"] == want["value_tier"]
        assert got["next_order_date"] == "2027-01-01"
    for seg in SEGMENTS:
        members = set(emu.members[sink.list_ids[seg.id]])
        assert members == {ids[p] for p in segments[seg.id]}


def _plan(traits_before, segs_before, traits, segments, ids) -> list[Change]:
    """What the planner would emit: changed traits, and membership diffs."""
    changes: list[Change] = []
    for pid, want in traits.items():
        if traits_before.get(pid) != want:
            changes.append(upsert(pid, f"{pid}@example.com", want, ids.get(pid)))
    by_id = {s.id: s for s in SEGMENTS}
    for sid, members in segments.items():
        before = segs_before.get(sid, set())
        changes += [
            member(ChangeKind.ADD, p, f"{p}@example.com", by_id[sid], ids.get(p))
            for p in sorted(members - before)
        ]
        changes += [
            member(ChangeKind.REMOVE, p, f"{p}@example.com", by_id[sid], ids.get(p))
            for p in sorted(before - members)
        ]
    return changes


def test_push_lands_exactly_then_sends_only_changes(tmp_path):
    with HubSpotEmulator(EmulatorOptions(limits="off")) as emu:
        sink = SPEC.sink(settings_for(emu), make_context(tmp_path))  # type: ignore[misc]
        sink.prepare(TRAITS, SEGMENTS)
        traits, segments = _desired(PROFILES)
        outcomes = apply_all(sink, _plan({}, {}, traits, segments, {}))
        assert {o.status for o in outcomes} == {OutcomeStatus.OK}
        ids = {f"p{i}": outcomes[i].learned_ids["hubspot_id"] for i in range(PROFILES)}
        _check_state(emu, sink, traits, segments, ids)

        traits2, segments2 = _desired(PROFILES, version=1)
        plan = _plan(traits, segments, traits2, segments2, ids)
        changed = sum(1 for c in plan if c.kind == ChangeKind.UPSERT)
        assert changed == PROFILES // 100
        recorded(emu)
        emu.recorder.clear()
        assert {o.status for o in apply_all(sink, plan)} == {OutcomeStatus.OK}
        writes = [e for e in recorded(emu) if e.path.endswith(("/batch/upsert", "/batch/update"))]
        assert len(writes) <= math.ceil(changed / 100) + 2
        _check_state(emu, sink, traits2, segments2, ids)


def test_faults_still_converge_and_only_the_invalid_value_is_rejected(tmp_path):
    with HubSpotEmulator(EmulatorOptions(limits="off", seed=3)) as emu:
        sink = SPEC.sink(settings_for(emu, max_attempts=8), make_context(tmp_path))  # type: ignore[misc]
        sink.prepare(TRAITS, SEGMENTS)
        n = 5_000
        traits, segments = _desired(n)
        plan = _plan({}, {}, traits, segments, {})
        bad = next(i for i, c in enumerate(plan) if c.recipient.profile_id == "p77")
        plan[bad] = upsert("p77", "p77@example.com", {**traits["p77"], "value_tier": "platinum"})
        emu.faults.set_rules(
            [
                FaultRule(path="/crm/v3/*", status=429, count=40),
                FaultRule(path="/crm/v3/*", status=503, rate=0.1),
            ]
        )
        outcomes = apply_all(sink, plan, rounds=5)
        rejected = [
            (plan[i].recipient.profile_id, o)
            for i, o in enumerate(outcomes)
            if o.status != OutcomeStatus.OK
        ]
        assert {p for p, _ in rejected} == {"p77"}, "only the invalid contact fails"
        (reject,) = [o for _, o in rejected if o.status == OutcomeStatus.REJECTED]
        assert plan[outcomes.index(reject)].kind == ChangeKind.UPSERT
        assert "platinum" in reject.reason
        assert "was not one of the allowed options" in reject.reason
        statuses = [e.status for e in recorded(emu)]
        assert statuses.count(429) == 40
        assert statuses.count(503) > 0
        emu.faults.set_rules([])
        ids = {pid: emu.contacts.by_email[f"{pid}@example.com"] for pid in traits if pid != "p77"}
        del traits["p77"]
        segments = {sid: m - {"p77"} for sid, m in segments.items()}
        _check_state(emu, sink, traits, segments, ids)
