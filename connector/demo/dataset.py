"""Writes the demo's input files: real orders (a UCI Online Retail slice), synthetic people.

Three views of the same customers, as a marketer's stack would have them: CRM contacts (CSV,
national phone formats, some emails in odd case), shop orders (JSONL, keyed by email or phone)
and web analytics (Segment-spec NDJSON: anonymous browsing, then an identify). Identity
resolution has to join them. A few deliberately broken records show quarantine at work.
Everything is derived from the customer id, so the files are identical on every machine.

The slice ends in December 2011; a model run as of today would find a shop that stopped trading
years ago and (rightly) hold its scores. So every date is moved forward by whole weeks until the
slice ends just before the start of the current week (`demo_shift`): a newcomer's first run is
current, weekdays stay weekdays, and every run in the same week writes identical files.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = [
    "as_of_setting",
    "demo_as_of",
    "demo_shift",
    "orders_by_customer",
    "person",
    "web_messages",
    "write_demo_inputs",
]

# The Monday after the slice's last order (Friday 2011-12-09): the shifted data ends the Friday
# before the current week starts, so the newest order is 3 to 9 days before today.
SLICE_END = date(2011, 12, 12)


def demo_shift(today: date | None = None) -> timedelta:
    """Whole weeks from the slice's end to the start (Monday) of the current UTC week."""
    today = today or datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return timedelta(weeks=(monday - SLICE_END).days // 7)


def demo_as_of(today: date | None = None) -> date:
    """The demo's scoring date: the start of the current week (every run in a week agrees)."""
    return SLICE_END + demo_shift(today)


def as_of_setting(today: date | None = None) -> str:
    """The `[model] as_of` line of a demo config."""
    return (
        f"as_of = \"{demo_as_of(today).isoformat()}\"   # this week's Monday: the demo's 2011 "
        "orders are moved to end the Friday before, so its scores are current"
    )


FIRST = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Noah",
    "Oliver",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Chloé",
    "Zoë",
    "José",
    "Björn",
    "Anaïs",
    "Łukasz",
    "Siobhán",
    "François",
    "Núria",
    "Søren",
]
LAST = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Walker",
    "Thompson",
    "O'Brien",
    "Müller",
    "García",
    "Dubois",
    "Rossi",
    "Nowak",
]
CATEGORY_WORDS = {
    "bag": "Bags",
    "lunch": "Bags",
    "candle": "Candles",
    "light": "Lighting",
    "lantern": "Lighting",
    "heart": "Decor",
    "sign": "Decor",
    "frame": "Decor",
    "mug": "Kitchen",
    "cake": "Kitchen",
    "tea": "Kitchen",
    "christmas": "Seasonal",
    "card": "Stationery",
    "paper": "Stationery",
    "doll": "Toys",
    "toy": "Toys",
    "box": "Storage",
    "tin": "Storage",
}


def _h(*parts: object) -> int:
    return int(hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:12], 16)


def _category(description: str) -> str:
    low = description.lower()
    return next((c for w, c in CATEGORY_WORDS.items() if w in low), "Other")


def person(cid: str) -> dict[str, Any]:
    h = _h("person", cid)
    first, last = FIRST[h % len(FIRST)], LAST[(h // 31) % len(LAST)]
    local = f"{first}.{last}".lower().replace("'", "")
    email = f"{local}.{cid}@example.org"
    phone = f"07{400 + h % 200} {h % 900_000 + 100_000}"  # 07400-07599: valid UK mobile ranges
    consent = _h("consent", cid) % 100
    return {
        "first": first,
        "last": last,
        "email": email,
        "phone": phone,
        "consent_email": "granted" if consent < 70 else ("denied" if consent < 80 else "unknown"),
        "consent_ads": "granted" if consent < 55 else ("denied" if consent < 75 else "unknown"),
    }


def orders_by_customer(
    shift: timedelta | None = None,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Orders (invoices) per customer id, dated `shift` later than in the slice (default
    `demo_shift()`), and each customer's country."""
    move = demo_shift() if shift is None else shift
    raw = files("connector.demo").joinpath("data/online_retail_slice.csv.gz").read_bytes()
    orders: dict[str, dict[str, Any]] = {}
    country: dict[str, str] = {}
    with io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            qty, price = float(row["Quantity"]), float(row["UnitPrice"])
            if row["InvoiceNo"].startswith("C") or qty <= 0 or price <= 0:
                continue
            cid = row["CustomerID"].split(".")[0]
            country[cid] = row["Country"]
            inv = orders.setdefault(
                row["InvoiceNo"],
                {
                    "cid": cid,
                    "invoice": row["InvoiceNo"],
                    "at": move + _invoice_date(row["InvoiceDate"]),
                    "revenue": 0.0,
                    "products": [],
                },
            )
            inv["revenue"] += qty * price
            inv["products"].append(
                {
                    "id": row["StockCode"],
                    "name": row["Description"].strip().title(),
                    "category": _category(row["Description"]),
                    "price": price,
                    "quantity": int(qty),
                }
            )
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for inv in orders.values():
        by_customer[inv["cid"]].append(inv)
    return by_customer, country


def _invoice_date(text: str) -> datetime:
    if "-" in text:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    return datetime.strptime(text, "%m/%d/%Y %H:%M")


_CRM_COLUMNS = [
    "source_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "created_at",
    "updated_at",
    "consent.email",
    "consent.ads",
    "ids.crm_id",
    "traits.lifecycle_stage",
]
# the day the CRM export was taken, before the slice's last week; shifted like the orders
_CRM_UPDATED = datetime(2011, 12, 1, 9)


def write_demo_inputs(
    root: Path, *, crm: bool = True, web: bool = True, shift: timedelta | None = None
) -> dict[str, int]:
    """Write data/profiles, data/events and data/segment under ``root``; return counts.

    The platform demo leaves out the CRM file and the web events (``crm``/``web`` false):
    there they live in the HubSpot emulator and a Segment archive instead. Dates are moved by
    `shift` (default `demo_shift()`; tests pass ``timedelta(0)`` for the slice's own dates)."""
    move = demo_shift() if shift is None else shift
    by_customer, country = orders_by_customer(move)
    for sub in ("profiles", "events", "segment"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    counts = {"customers": len(by_customer), "orders": 0, "web_events": 0, "broken": 0}
    if crm:
        crm_path = root / "profiles" / "crm_contacts.csv"
        counts["broken"] += _write_crm(crm_path, by_customer, country, move)
    orders, broken = _write_orders(root / "events" / "orders.jsonl", by_customer)
    counts["orders"] += orders
    counts["broken"] += broken
    if web:
        with (root / "segment" / "web.jsonl").open("w", encoding="utf-8") as fh:
            for msg in web_messages(by_customer):
                fh.write(json.dumps(msg) + "\n")
                counts["web_events"] += msg["type"] == "track"
    return counts


def _write_crm(
    path: Path,
    by_customer: dict[str, list[dict[str, Any]]],
    country: dict[str, str],
    shift: timedelta,
) -> int:
    """CRM contacts with the usual mess (odd case, padding, missing emails); returns how many
    broken rows it wrote."""
    updated = (_CRM_UPDATED + shift).isoformat() + "Z"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=_CRM_COLUMNS)
        w.writeheader()
        for i, cid in enumerate(sorted(by_customer)):
            w.writerow({**_crm_contact(i, cid, by_customer[cid], country), "updated_at": updated})
        # two colleagues who typed the shared test address: they must stay two people
        for n in (1, 2):
            w.writerow(
                {
                    "source_id": f"crm-test-{n}",
                    "email": "test@test.com",
                    "phone": "",
                    "first_name": "Test",
                    "last_name": f"User {n}",
                    "country": "United Kingdom",
                    "updated_at": updated,
                    "consent.email": "unknown",
                    "consent.ads": "unknown",
                    "ids.crm_id": f"test-{n}",
                    "traits.lifecycle_stage": "lead",
                }
            )
        w.writerow({"source_id": "crm-broken-1", "email": "not-an-email", "updated_at": updated})
    return 1


def _crm_contact(
    i: int, cid: str, orders: list[dict[str, Any]], country: dict[str, str]
) -> dict[str, Any]:
    p = person(cid)
    first_order = min(o["at"] for o in orders)
    email = (
        p["email"].upper() if i % 7 == 0 else (f"  {p['email']} " if i % 11 == 0 else p["email"])
    )
    return {
        "source_id": f"crm-{cid}",
        "email": email if i % 13 else "",
        "phone": p["phone"],
        "first_name": p["first"],
        "last_name": p["last"],
        "country": country.get(cid, ""),
        "created_at": (first_order - timedelta(days=_h("c", cid) % 90)).isoformat(),
        "consent.email": p["consent_email"],
        "consent.ads": p["consent_ads"],
        "ids.crm_id": cid,
        "traits.lifecycle_stage": "customer",
    }


def _write_orders(path: Path, by_customer: dict[str, list[dict[str, Any]]]) -> tuple[int, int]:
    """Shop orders keyed by email or phone; returns (orders, broken rows) written."""
    orders = 0
    with path.open("w", encoding="utf-8") as fh:
        for i, cid in enumerate(sorted(by_customer)):
            p = person(cid)
            for inv in sorted(by_customer[cid], key=lambda o: o["invoice"]):
                ident = (
                    {"phone": p["phone"].replace(" ", "")}
                    if (i % 13 == 0)
                    else {"email": p["email"].title() if i % 5 == 0 else p["email"]}
                )
                order = {
                    "source_event_id": f"order-{inv['invoice']}",
                    "type": "order_completed",
                    "occurred_at": inv["at"].isoformat() + "Z",
                    **ident,
                    "revenue": round(inv["revenue"], 2),
                    "currency": "GBP",
                    "properties": {"order_id": inv["invoice"], "products": inv["products"]},
                }
                fh.write(json.dumps(order) + "\n")
                orders += 1
        broken = {
            "source_event_id": "order-broken",
            "type": "order_completed",
            "occurred_at": "yesterday",
        }
        fh.write(json.dumps(broken) + "\n")
    return orders, 1


def web_messages(by_customer: dict[str, list[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    """Segment-spec web events of every third customer: anonymous product views, then an
    identify that links the anonymous id to a user id and an email."""
    for cid in sorted(by_customer)[::3]:
        p = person(cid)
        anon = f"anon-{_h('anon', cid):x}"
        last = max(o["at"] for o in by_customer[cid])
        for k in range(3):
            at = last - timedelta(hours=3 * (k + 1))
            yield {
                "type": "track",
                "event": "Product Viewed",
                "anonymousId": anon,
                "messageId": f"m-{cid}-view-{k}",
                "timestamp": at.isoformat() + "Z",
                "properties": {"product_id": f"P{_h('p', cid, k) % 500}", "category": "Decor"},
            }
        yield {
            "type": "identify",
            "userId": f"web-{cid}",
            "anonymousId": anon,
            "messageId": f"m-{cid}-identify",
            "timestamp": last.isoformat() + "Z",
            "traits": {"email": p["email"], "firstName": p["first"], "lastName": p["last"]},
        }
