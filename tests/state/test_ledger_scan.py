"""The planner reads the ledger a chunk at a time in key order, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state import Ledger, StateStore
from connector.sync.mirror import mirror_ledger
from connector.sync.planned import plan_engine


def test_scan_pages_through_every_row_in_key_order(state_url: str) -> None:
    store = StateStore(state_url)
    try:
        ledger = Ledger(store)
        vip = SegmentRef("vip", "VIP")
        upserts = [
            Change(
                ChangeKind.UPSERT,
                Recipient(f"p{i:03d}"),
                f"t:p{i:03d}",
                f"d{i}",
                {"p_buy": 0.43, "tier": "high", "orders": 3},
            )
            for i in range(23)
        ]
        adds = [
            Change(ChangeKind.ADD, Recipient(f"p{i:03d}"), f"m:vip:p{i:03d}", "1", segment=vip)
            for i in range(0, 23, 2)
        ]
        ledger.record("crm", [*upserts, *adds], "r1")
        ledger.record("other", upserts[:3], "r1")
        chunks = list(ledger.scan("crm", chunk=5))
        keys = [row[0] for chunk in chunks for row in chunk]
        assert keys == sorted(c.key for c in [*upserts, *adds]), "every row once, in key order"
        assert [len(c) for c in chunks] == [5] * 7, "35 rows in chunks of 5, none held back"
        trait = next(row for chunk in chunks for row in chunk if row[0] == "t:p004")
        assert json.loads(trait[5]) == ["orders", "p_buy", "tier"]
        assert json.loads(trait[6] or "{}") == {"orders": 3, "p_buy": 0.43}, "numbers only"
        con = plan_engine()
        assert mirror_ledger(con, "crm", ledger, chunk=4) == 35
        assert mirror_ledger(con, "crm", ledger, held=("vip",), chunk=4) == 23
        assert mirror_ledger(con, "crm", ledger.entries("crm")) == 35, "the same from entries"
        con.close()
    finally:
        store.close()


def test_the_arrow_scan_holds_what_the_row_scan_holds(state_url: str) -> None:
    """The planner's copy reads each row as one joined text split by Arrow (``scan_arrow``):
    the same rows and NULLs as ``scan``, and a page with a value holding the separator read
    as tuples instead."""
    store = StateStore(state_url)
    try:
        ledger = Ledger(store)
        vip, odd = SegmentRef("vip", "VIP"), SegmentRef("a\x1fb", "Odd")
        changes = [
            Change(ChangeKind.UPSERT, Recipient(f"p{i:02d}"), f"t:p{i:02d}", f"d{i}", {"x": i})
            for i in range(9)
        ]
        changes += [
            Change(ChangeKind.ADD, Recipient(f"p{i:02d}"), f"m:vip:p{i:02d}", "1", segment=vip)
            for i in range(0, 9, 2)
        ]
        changes.append(Change(ChangeKind.ADD, Recipient("p07"), "m:a\x1fb:p07", "1", segment=odd))
        ledger.record("crm", changes, "r1")
        ledger.mark_pending("crm", changes[:2], "r2")
        rows = sorted(r for chunk in ledger.scan("crm", chunk=4) for r in chunk)
        tables = list(ledger.scan_arrow("crm", chunk=4))
        as_arrow = sorted(tuple(r.values()) for t in tables for r in t.to_pylist())
        assert as_arrow == rows
        assert len(rows) == 15
        assert any(r[3] is None for r in rows), "a trait row's segment is NULL"
        assert any(r[6] is None for r in rows), "a membership's numbers are NULL"
        assert [t.num_rows for t in tables] == [4, 4, 4, 3]
        assert list(ledger.scan_arrow("nobody")) == []
    finally:
        store.close()


def test_delivered_per_segment_counts_acknowledged_memberships_only(state_url: str) -> None:
    store = StateStore(state_url)
    try:
        ledger = Ledger(store)
        vip, lapsed = SegmentRef("vip", "VIP"), SegmentRef("lapsed", "Lapsed")

        def add(seg: SegmentRef, i: int) -> Change:
            return Change(ChangeKind.ADD, Recipient(f"p{i}"), f"m:{seg.id}:p{i}", "1", segment=seg)

        ledger.record("crm", [add(vip, i) for i in range(5)] + [add(lapsed, 9)], "r1")
        ledger.record(
            "crm", [Change(ChangeKind.UPSERT, Recipient("p1"), "t:p1", "d", {"a": 1})], "r1"
        )
        ledger.record("other", [add(vip, 7)], "r1")
        ledger.mark_pending("crm", [add(vip, 20), add(lapsed, 21)], "r2")  # sent, not acknowledged
        assert ledger.delivered_per_segment("crm") == {"vip": 5, "lapsed": 1}
        assert ledger.delivered_per_segment("other") == {"vip": 1}
        assert ledger.delivered_per_segment("none") == {}
    finally:
        store.close()
