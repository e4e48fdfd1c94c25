"""Deterministic, realistic-looking portal data: contacts and closed/open deals.

The same ``seed`` always gives the same records (ids, emails, timestamps), so tests and the demo
repeat. Timestamps fall in a fixed past range, so any write made while the emulator runs is
newer than every seeded record, as in a real portal.
"""

from __future__ import annotations

import random
from typing import Any

from cdp_hubspot.emulator.objects import CrmObject, ObjectStore
from cdp_hubspot.emulator.pipelines import DEAL_PIPELINES
from cdp_hubspot.emulator.schema import DEAL_STAGES, LIFECYCLE_STAGES
from cdp_hubspot.emulator.values import iso_ms

__all__ = ["seed_contacts", "seed_deals"]

_START_MS = 1_672_531_200_000  # 2023-01-01T00:00:00Z
_SPAN_MS = 2 * 365 * 86_400_000
_FIRST = ("ana", "ben", "chloe", "dmitri", "emma", "farid", "grace", "hiro", "ines",
          "jamal", "kate", "liam", "mei", "noah", "olga", "pablo", "quinn", "rosa", "sven",
          "tariq")  # fmt: skip
_LAST = ("almeida", "brown", "chen", "dubois", "evans", "fischer", "garcia", "hansen",
         "ito", "jones", "kowalski", "lopez", "müller", "nguyen", "okafor", "patel", "rossi",
         "smith")  # fmt: skip
_COUNTRIES = ("United States", "US", "Germany", "DE", "France", "United Kingdom", "GB", "Spain",
              "Brazil", "Japan", "India", "Canada", "")  # fmt: skip
_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


def _ascii(text: str) -> str:
    return text.replace("ü", "u")


def seed_contacts(store: ObjectStore, count: int, seed: int) -> list[str]:
    rng = random.Random(f"contacts:{seed}:{len(store.records)}")
    ids: list[str] = []
    for _ in range(count):
        rid = store.new_id()
        created = _START_MS + rng.randrange(_SPAN_MS)
        modified = created + rng.randrange(_START_MS + _SPAN_MS - created + 1)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        props = {
            "email": f"{first}.{_ascii(last)}.{rid}@{rng.choice(_DOMAINS)}",
            "firstname": first.title(),
            "lastname": last.title(),
            "phone": f"+1415555{rng.randrange(10_000):04d}" if rng.random() < 0.6 else "",
            "country": rng.choice(_COUNTRIES),
            "city": rng.choice(("Lisbon", "Berlin", "Austin", "Osaka", "Lyon", "")),
            "lifecyclestage": rng.choice(LIFECYCLE_STAGES),
            "hs_email_optout": "true" if rng.random() < 0.1 else "false",
            "createdate": iso_ms(created),
            "lastmodifieddate": iso_ms(modified),
            "hs_object_id": rid,
        }
        store.put(CrmObject(rid, props, created, modified), indexed_now=True)
        ids.append(rid)
    return ids


def seed_deals(store: ObjectStore, contacts: ObjectStore, count: int, seed: int) -> list[str]:
    """Deals, about 60% closed won, each associated with one contact (a few with two); one in
    four in the second pipeline, whose won stage has a numeric id."""
    if not contacts.records:
        return []
    rng = random.Random(f"deals:{seed}:{len(store.records)}")
    contact_ids = sorted(contacts.records, key=int)
    ids: list[str] = []
    for _ in range(count):
        rid = store.new_id()
        created = _START_MS + rng.randrange(_SPAN_MS)
        closed = created + rng.randrange(90 * 86_400_000)
        modified = closed + rng.randrange(86_400_000)
        pipeline, stages = "default", [*DEAL_STAGES]
        if rng.random() < 0.25:
            pipeline, _, rows = DEAL_PIPELINES[1]
            stages = [s[0] for s in rows]
        won = "closedwon" if pipeline == "default" else stages[1]
        stage = won if rng.random() < 0.6 else rng.choice(stages)
        props: dict[str, Any] = {
            "dealname": f"Order {rid}",
            "amount": f"{rng.lognormvariate(4.5, 0.8):.2f}",
            "closedate": iso_ms(closed),
            "dealstage": stage,
            "pipeline": pipeline,
            "deal_currency_code": "USD",
            "createdate": iso_ms(created),
            "hs_lastmodifieddate": iso_ms(modified),
            "hs_object_id": rid,
        }
        people = [rng.choice(contact_ids)]
        if rng.random() < 0.05:
            people.append(rng.choice(contact_ids))
        record = CrmObject(rid, props, created, modified, associations={"contacts": people})
        store.put(record, indexed_now=True)
        for person in people:
            contacts.records[person].associations.setdefault("deals", []).append(rid)
        ids.append(rid)
    return ids


def seed_people(store: ObjectStore, people: list[dict[str, Any]], at_ms: int) -> list[str]:
    """Contacts for given people (``email``, ``phone``, ``first_name``, ``last_name``,
    ``country``, ``city``, ``email_consent``): the same person seeded into several emulators
    lets a demo or test show identity resolution across platforms."""
    ids: list[str] = []
    for person in people:
        rid = store.new_id()
        props = {
            "email": str(person.get("email") or "").lower(),
            "firstname": person.get("first_name") or "",
            "lastname": person.get("last_name") or "",
            "phone": person.get("phone") or "",
            "country": person.get("country") or "",
            "city": person.get("city") or "",
            "lifecyclestage": "customer",
            "hs_email_optout": "true" if person.get("email_consent") == "denied" else "false",
            "createdate": iso_ms(at_ms),
            "lastmodifieddate": iso_ms(at_ms),
            "hs_object_id": rid,
        }
        store.put(CrmObject(rid, props, at_ms, at_ms), indexed_now=True)
        ids.append(rid)
    return ids
