"""The HubSpot mutator of the live-account suite and the checks of what landed against it.

The mutator changes the HubSpot emulator through the official SDK (hubspot-api-client), as
people do in a portal while the connector reads it: contact edits (batch update), archives
(``basic_api.archive``), merges (``basic_api.merge``), deals leaving closed won, and back-dated
deals (a close date moved into the past, a won deal created with an old close date).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import urllib3
from hubspot import HubSpot
from tests.gauntlet import ads_segment as ads
from tests.gauntlet import harness as h

from cdp_hubspot.emulator import HubSpotEmulator

_CITIES = ("Porto", "Lyon", "Osaka", "Austin", "Berlin", "Lisbon")


@dataclass
class Mutator:
    """Spends a budget of mutations, a few at a time, whenever ``allow`` raises it."""

    emu: HubSpotEmulator
    # people Klaviyo holds on its own (their HubSpot contact is one our destination created):
    # archiving would not remove the person, and a merge of a contact we created and never read
    # back alive does not join the two people yet (the graph holds no record of it to join)
    keep_emails: set[str]
    seed: int = 7
    done: dict[str, int] = field(default_factory=dict)
    budget: int = 0
    # contacts GDPR-deleted (gone from every listing): id -> their properties before
    purged: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.client = HubSpot(
            access_token=h.HUBSPOT_TOKEN,
            host=self.emu.base_url,
            base_url=self.emu.base_url,
            retry=urllib3.util.Retry(total=0, redirect=0),
        )
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    @property
    def total(self) -> int:
        return sum(self.done.values())

    def allow(self, n: int) -> None:
        with self.lock:
            self.budget += n

    def finish(self) -> None:
        """Spend what is left of the budget, then stop."""
        while self.budget > 0 and self.thread.is_alive():
            self.stop.wait(0.05)
        self.stop.set()
        self.thread.join(timeout=60)

    def _loop(self) -> None:
        while not self.stop.is_set():
            if self.budget <= 0:
                self.stop.wait(0.02)
                continue
            kind, n = self._one()
            with self.lock:
                self.done[kind] = self.done.get(kind, 0) + n
                self.budget -= n
            self.stop.wait(0.01)

    def _live(self, k: int) -> list[str]:
        ids = sorted(self.emu.contacts.records, key=int)
        return self.rng.sample(ids, min(k, len(ids)))

    def _one(self) -> tuple[str, int]:
        roll = self.rng.random()
        crm = self.client.crm
        if roll < 0.55:
            batch = self._live(10)
            crm.contacts.batch_api.update(
                batch_input_simple_public_object_batch_input={
                    "inputs": [
                        {
                            "id": rid,
                            "properties": {
                                "city": self.rng.choice(_CITIES),
                                "firstname": f"Ed{self.rng.randrange(10_000)}",
                            },
                        }
                        for rid in batch
                    ]
                }
            )
            return "edited", len(batch)
        if roll < 0.68:
            rid = next((r for r in self._live(20) if self._email(r) not in self.keep_emails), None)
            if rid is not None:
                crm.contacts.basic_api.archive(contact_id=rid)
            return "archived", int(rid is not None)
        if roll < 0.72:  # a GDPR delete: no archived record, no modification, nothing listed
            rid = next((r for r in self._live(20) if self._email(r) not in self.keep_emails), None)
            if rid is not None:
                self.purged[rid] = dict(self.emu.contacts.records[rid].props)
                crm.contacts.basic_api.purge(public_gdpr_delete_input={"objectId": rid})
            return "gdpr_deleted", int(rid is not None)
        if roll < 0.84:
            pair = [r for r in self._live(20) if self._email(r) not in self.keep_emails][:2]
            if len(pair) == 2:
                crm.contacts.basic_api.merge(
                    public_merge_input={"primaryObjectId": pair[0], "objectIdToMerge": pair[1]}
                )
            return "merged", len(pair) // 2
        return self._deal()

    def _email(self, rid: str) -> str:
        record = self.emu.contacts.records.get(rid)
        return (record.props.get("email") or "").lower() if record else ""

    def _deal(self) -> tuple[str, int]:
        deals = self.client.crm.deals
        won = [
            r for r, d in self.emu.deals.records.items() if d.props["hs_is_closed_won"] == "true"
        ]
        roll = self.rng.random()
        if roll < 0.3 and won:
            rid = self.rng.choice(won)
            stage = (
                "closedlost"
                if self.emu.deals.records[rid].props["pipeline"] == "default"
                else "1040003"
            )
            deals.basic_api.update(
                deal_id=rid, simple_public_object_input={"properties": {"dealstage": stage}}
            )
            return "deal_lost", 1
        if roll < 0.6 and won:
            rid = self.rng.choice(won)
            days = self.rng.randrange(30, 400)
            deals.basic_api.update(
                deal_id=rid,
                simple_public_object_input={"properties": {"closedate": _days_ago(days)}},
            )
            return "back_dated", 1
        (contact,) = self._live(1)
        deals.basic_api.create(
            simple_public_object_input_for_create={
                "properties": {
                    "dealname": "Backfilled order",
                    "amount": f"{self.rng.randrange(20, 400)}.00",
                    "pipeline": "705209413",
                    "dealstage": "1040002",
                    "closedate": _days_ago(self.rng.randrange(30, 400)),
                },
                "associations": [
                    {
                        "to": {"id": contact},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 3}
                        ],
                    }
                ],
            }
        )
        return "back_dated", 1


def _days_ago(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT00:00:00.000Z")


# ---- checks --------------------------------------------------------------------------------


def _store(root: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)


def store_vs_truth(emu: HubSpotEmulator, root: Path) -> dict[str, int]:
    """Contacts and deals lost (absent from the store) or stale (a value differs)."""
    con = _store(root)
    try:
        rows = con.execute(
            """SELECT p.source_id, p.email, p.first_name, p.last_name, p.city
               FROM profile_records p WHERE p.source = 'hubspot' AND NOT EXISTS (
                 SELECT 1 FROM tombstones t
                 WHERE t.source = p.source AND t.source_id = p.source_id)"""
        ).fetchall()
        events = dict(
            con.execute(
                "SELECT source_event_id, type || '|' || coalesce(CAST(revenue AS VARCHAR), '')"
                " FROM events WHERE source = 'hubspot'"
            ).fetchall()
        )
    finally:
        con.close()
    stored = {sid: (e, f, la, c) for sid, e, f, la, c in rows}
    lost = stale = 0
    for rid, record in emu.contacts.records.items():
        p = record.props
        want = ((p.get("email") or "").lower() or None, p.get("firstname") or None,
                p.get("lastname") or None, p.get("city") or None)  # fmt: skip
        if rid not in stored:
            lost += 1
        elif stored[rid] != want:
            stale += 1
    for rid, deal in emu.deals.records.items():
        won = deal.props["hs_is_closed_won"] == "true"
        have = events.get(rid, "")
        if won and not deal.associations.get("contacts"):
            continue
        if won and not have.startswith("order_completed"):
            lost += 1
        elif won and float(have.split("|")[1]) != float(deal.props["amount"]):
            stale += 1
        elif not won and have.startswith("order_completed"):
            stale += 1  # an order that no longer is one still counts
    for rid in emu.deals.archived:
        stale += int(events.get(rid, "").startswith("order_completed"))
    return {"lost": lost, "stale": stale}


def gone_people(
    emu: HubSpotEmulator, klaviyo_emails: set[str], purged: dict[str, dict[str, Any]]
) -> tuple[set[str], set[str]]:
    """(archived or GDPR-deleted contact ids, their emails) of people gone from HubSpot: no live
    contact or Klaviyo profile holds their email, and no live contact their phone (the same
    person)."""
    live = {(r.props.get("email") or "").lower() for r in emu.contacts.records.values()}
    phones = {r.props.get("phone") for r in emu.contacts.records.values()} - {None, ""}
    ids, emails = set(), set()
    gone = {rid: r.props for rid, r in emu.contacts.archived.items()} | purged
    for rid, props in gone.items():
        email = (props.get("email") or "").lower()
        if props.get("phone") in phones:
            continue
        if email and email not in live and email not in klaviyo_emails:
            ids.add(rid)
            emails.add(email)
    return ids, emails


def _owners(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """hubspot_id → the current profile ids holding it (a retired profile's rows are followed to
    the profile it was merged into)."""
    retired = dict(con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall())
    out: dict[str, set[str]] = {}
    for value, first in con.execute(
        "SELECT value, profile_id FROM identities WHERE kind = 'hubspot_id'"
    ).fetchall():
        pid, seen = first, {first}
        while pid in retired and retired[pid] not in seen:
            pid = retired[pid]
            seen.add(pid)
        out.setdefault(str(value), set()).add(str(pid))
    return out


def deleted_active(
    emu: HubSpotEmulator, root: Path, gone_ids: set[str], purged: Iterable[str]
) -> tuple[int, int]:
    """(archived or merged-away contacts still a live record, or active though gone; merged-away
    contacts still a separate person in our graph although their merge was read)."""
    con = _store(root)
    try:
        tomb = dict(
            con.execute(
                "SELECT source_id, coalesce(merged_into, '') FROM tombstones"
                " WHERE source = 'hubspot'"
            ).fetchall()
        )
        inactive = {
            r[0] for r in con.execute("SELECT profile_id FROM inactive_profiles").fetchall()
        }
        owner = _owners(con)
        stored = {
            str(r[0])
            for r in con.execute(
                "SELECT source_id FROM profile_records"
                " WHERE source = 'hubspot' AND email IS NOT NULL"
            ).fetchall()
        }
    finally:
        con.close()
    # a contact GDPR-deleted before any run read it alive left nothing to notice
    bad = sum(1 for rid in emu.contacts.archived if rid not in tomb)
    bad += sum(1 for rid in purged if rid in stored and rid not in tomb)
    bad += sum(1 for rid in gone_ids if owner.get(rid, set()) - inactive)
    apart = 0
    for old, new in emu.contacts.merged_into.items():
        if tomb.get(old) != new and emu.contacts.merged_into.get(tomb.get(old, "")) != new:
            bad += 1  # no merged_into record (or one to a record itself merged on)
        elif old in owner and owner[old] != owner.get(new):
            apart += 1  # the merged-away id is still a separate person
    return bad, apart


def in_destinations(p: h.Platforms, root: Path, emails: set[str]) -> int:
    """Gone people found in any list, audience, Segment flag or files membership."""
    view = h.destination_view(p, root)
    found = 0
    for email in emails:
        places = [
            any(email in m for m in view["klaviyo_lists"].values()),
            any(email in m for m in view["hubspot_lists"].values()),
            any(h._meta_hash(email) in m for m in view["meta_audiences"].values()),
            any(ads.google_hash(email) in m for m in view["google_lists"].values()),
            any(v is True for v in view["segment_traits"].get(email, {}).values()),
            any(who == email for _s, who in view["files"]["memberships"]),
        ]
        found += int(any(places))
    return found


def klaviyo_emails(p: h.Platforms) -> set[str]:
    state: dict[str, Any] = p.state("klaviyo")
    return {(pr.get("email") or "").lower() for pr in state["profiles"].values()} - {""}
