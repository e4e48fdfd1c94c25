"""A Klaviyo account that changes while the connector reads it (issue 12, Build item 8).

``Mutator`` edits profiles (``update_profile``), back-dates events (``create_event`` with a
``time`` up to 71 h before their arrival, as a backfill or a delayed integration sends them),
merges profiles (``merge_profiles``), creates profiles by sending their first event, all through
the official SDK, and deletes profiles through the emulator's deletion hook (Klaviyo deletes
only through data-privacy deletion jobs; see ``cdp_klaviyo.emulator.writes.delete_profiles``).
``truth_check`` compares the workspace's data store with the emulator afterwards.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from klaviyo_api import KlaviyoAPI
from tests.gauntlet import ads_segment as ads
from tests.gauntlet import harness as h

from cdp_klaviyo.emulator import KlaviyoEmulator
from cdp_klaviyo.mapping import EVENT_TYPES_BY_METRIC

HOUR = 3600.0
KINDS = ("edit", "late_event", "delete", "merge", "create")
WEIGHTS = (45, 35, 8, 4, 8)
LATE_METRICS = ("Placed Order", "Viewed Product", "Opened Email", "Refunded Order")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class Mutator:
    """Mutations of one Klaviyo emulator, counted by kind; ``during`` counts those made while
    a run was going on."""

    def __init__(self, emulator: KlaviyoEmulator, seed: int = 5) -> None:
        self.emu = emulator
        self.api = KlaviyoAPI(
            h.KLAVIYO_KEY, max_delay=0.1, max_retries=3, test_host=emulator.base_url
        )
        self.rng = random.Random(seed)
        self.n = 0
        self.kinds: Counter[str] = Counter()
        self.during = 0
        self._stop = threading.Event()

    # ---- one mutation ----------------------------------------------------------------------
    def _pick(self, k: int = 1) -> list[str]:
        with self.emu.lock:
            pids = sorted(self.emu.store.profiles)
        return self.rng.sample(pids, k) if len(pids) > k + 20 else []

    def event(self, email: str, at: float, metric: str, tag: str) -> None:
        attrs: dict[str, Any] = {
            "properties": {"Items": [], "$event_id": f"{tag}-{self.n}"},
            "time": _iso(at),
            "unique_id": f"{tag}-{self.n}",
            "value": float(5 + self.n % 50),
            "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
        }
        self.api.Events.create_event({"data": {"type": "event", "attributes": attrs}})

    def _email(self, pid: str) -> str | None:
        with self.emu.lock:
            profile = self.emu.store.profiles.get(pid)
            return profile.get("email") if profile else None

    def one(self) -> None:
        self.n += 1
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        picked = self._pick(2)
        if not picked:
            kind = "create"
        if kind == "edit":
            attrs: dict[str, Any] = {
                "first_name": f"Edited{self.n}",
                "properties": {"live": self.n},
            }
            if self.rng.random() < 0.1:
                attrs["email"] = f"moved{self.n}@example.com"
            body = {"data": {"type": "profile", "id": picked[0], "attributes": attrs}}
            self.api.Profiles.update_profile(picked[0], body)
        elif kind == "late_event":
            email = self._email(picked[0])
            if email is None:
                kind = "create"
            else:
                late = time.time() - HOUR * self.rng.uniform(1.0, 71.0)
                self.event(email, late, self.rng.choice(LATE_METRICS), "late")
        elif kind == "delete":
            self.emu.delete_profiles([picked[0]])
        elif kind == "merge":
            rel = {"profiles": {"data": [{"type": "profile", "id": picked[1]}]}}
            body = {"data": {"type": "profile-merge", "id": picked[0], "relationships": rel}}
            self.api.Profiles.merge_profiles(body)
        if kind == "create":
            self.event(f"new{self.n}@example.com", time.time(), "Placed Order", "new")
        self.kinds[kind] += 1

    # ---- around a run ----------------------------------------------------------------------
    def fresh_events(self, count: int) -> None:
        """Events happening now: the events cursor moves up to the present."""
        for pid in self._pick(count):
            email = self._email(pid)
            if email:
                self.event(email, time.time(), "Placed Order", "fresh")

    def start(self, target: int) -> threading.Thread:
        self._stop.clear()

        def loop() -> None:
            done = 0
            while done < target and not self._stop.is_set():
                self.one()
                done += 1
                time.sleep(0.003)
            self.during += done

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def finish(self, thread: threading.Thread, target_total: int) -> None:
        """Stop at the run's end; the rest of the run's share lands between runs."""
        self._stop.set()
        thread.join(timeout=60)
        while sum(self.kinds.values()) < target_total:
            self.one()


def truth_check(p: h.Platforms, root: Path) -> dict[str, Any]:
    """Store against emulator: lost and stale profiles, lost events, deleted people active or
    present in a destination."""
    emu = p.klaviyo
    with emu.lock:
        live = {pid: dict(pr) for pid, pr in emu.store.profiles.items()}
        names = {mid: m["name"] for mid, m in emu.store.metrics.items()}
        events = {
            eid: e
            for eid, e in emu.store.events.items()
            if names[e["metric_id"]] in EVENT_TYPES_BY_METRIC
        }
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        rows = con.execute(
            """SELECT r.source_id, r.email, r.first_name, r.traits, m.profile_id
               FROM profile_records r JOIN id_set_profile m USING (id_sig)
               WHERE r.source = 'klaviyo'"""
        ).fetchall()
        stones = {r[0] for r in con.execute("SELECT source_id FROM tombstones").fetchall()}
        stored_events = Counter(
            r[0] for r in con.execute("SELECT source_event_id FROM events").fetchall()
        )
        active = {r[0] for r in con.execute("SELECT profile_id FROM profiles").fetchall()}
        emails: dict[str, set[str]] = {}
        for pid, value in con.execute(
            "SELECT profile_id, value FROM identities WHERE kind = 'email'"
        ).fetchall():
            emails.setdefault(pid, set()).add(value)
    finally:
        con.close()
    records = {
        sid: (email, first, _live_mark(traits), pid) for sid, email, first, traits, pid in rows
    }
    lost = [pid for pid in live if pid not in records or pid in stones]
    stale = [
        pid
        for pid, pr in live.items()
        if pid in records
        and (
            (records[pid][0] or "") != (pr.get("email") or "").lower()
            or (records[pid][1] or "") != (pr.get("first_name") or "")
            # the mutator's own property; the modification date is no value: our destinations'
            # writes move it, and a record that says nothing new is not stored again (no echo)
            or records[pid][2] != (pr.get("properties") or {}).get("live")
        )
    ]
    people: dict[str, list[str]] = {}
    for sid, (_e, _f, _u, pid) in records.items():
        people.setdefault(pid, []).append(sid)
    gone_people = [pid for pid, sids in people.items() if not any(s in live for s in sids)]
    view = h.destination_view(p, root)
    in_destination = {
        pid: where for pid in gone_people if (where := _present(view, pid, emails.get(pid, set())))
    }
    late = [e for e in events.values() if e.get("received", e["timestamp"]) - e["timestamp"] > HOUR]
    return {
        "profiles": len(live),
        "lost": len(lost),
        "stale": len(stale),
        "events": len(events),
        "events_lost": sum(1 for eid in events if eid not in stored_events),
        "late_events": len(late),
        "late_lost": sum(1 for e in late if e["id"] not in stored_events),
        "deleted_people": len(gone_people),
        "deleted_active": sum(1 for pid in gone_people if pid in active),
        "in_destination": len(in_destination),
        "samples": {
            "lost": lost[:5],
            "stale": stale[:5],
            "in_destination": dict(list(in_destination.items())[:5]),
        },
    }


def _live_mark(traits: str | None) -> Any:
    """The ``live`` property the mutator writes, as the store holds it."""
    props = (json.loads(traits or "{}") or {}).get("properties") or {}
    return props.get("live") if isinstance(props, dict) else None


def _present(view: dict[str, Any], pid: str, emails: set[str]) -> list[str]:
    """The destinations holding the person (by any of their emails, or their profile id)."""
    where = set()
    for email in emails:
        for name, found in (
            ("klaviyo", any(email in m for m in view["klaviyo_lists"].values())),
            ("hubspot", any(email in m for m in view["hubspot_lists"].values())),
            ("meta", any(h._meta_hash(email) in m for m in view["meta_audiences"].values())),
            ("google", any(ads.google_hash(email) in m for m in view["google_lists"].values())),
            ("segment", any(v is True for v in view["segment_traits"].get(email, {}).values())),
        ):
            if found:
                where.add(name)
    if any(who in (emails | {pid}) for _s, who in view["files"]["memberships"]):
        where.add("files")
    return sorted(where)
