"""Deterministic, realistic seed data: shoppers with consent, a Shopify-like metric catalogue and
their events (orders with items and categories, product views, checkouts, email engagement).

Everything is drawn from ``random.Random(seed)``, with timestamps in a fixed 2025 window, so
two emulators seeded alike serve identical accounts.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

from cdp_klaviyo.emulator.store import KlaviyoStore, make_id

__all__ = ["METRICS", "seed_events", "seed_metrics", "seed_profiles"]

EPOCH = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
SPAN = 330 * 86400
SHOPIFY = {"object": "integration", "id": "0eMvjm", "name": "Shopify", "category": "eCommerce"}
KLAVIYO = {"object": "integration", "id": "0rG4eQ", "name": "Klaviyo", "category": "Internal"}
# (name, integration, weight): the mix of a typical store account.
METRICS = (
    ("Placed Order", SHOPIFY, 10),
    ("Ordered Product", SHOPIFY, 12),
    ("Viewed Product", SHOPIFY, 30),
    ("Started Checkout", SHOPIFY, 8),
    ("Opened Email", KLAVIYO, 25),
    ("Clicked Email", KLAVIYO, 10),
    ("Active on Site", KLAVIYO, 5),
    # Refunds and cancellations are in the catalogue (Shopify data reference, help.klaviyo.com
    # 115005080447) but never drawn at random: weight 0 keeps every seeded account as it was;
    # tests add them for chosen orders with create_event or ``seed_reversal``.
    ("Refunded Order", SHOPIFY, 0),
    ("Cancelled Order", SHOPIFY, 0),
)
_FIRST = (
    "Ada",
    "Ben",
    "Chloé",
    "Dev",
    "Emma",
    "Finn",
    "Grace",
    "Hugo",
    "Iris",
    "Jonas",
    "Kai",
    "Lena",
)
_LAST = (
    "Okafor",
    "Smith",
    "Müller",
    "Garcia",
    "Chen",
    "Novak",
    "Rossi",
    "Kowalski",
    "Haddad",
    "Berg",
)
_CITIES = (
    ("New York", "NY", "10017", "United States"),
    ("London", "England", "EC1A 1BB", "United Kingdom"),
    ("Berlin", "Berlin", "10115", "Germany"),
    ("Austin", "TX", "73301", "United States"),
    ("Paris", "Île-de-France", "75001", "France"),
    ("Toronto", "ON", "M5H 2N2", "Canada"),
)
_PRODUCTS = tuple(
    (f"P{n:04d}", f"{adj} {noun}", cat, price)
    for n, (adj, noun, cat, price) in enumerate(
        (a, b, c, p)
        for a in ("Classic", "Organic", "Travel", "Deluxe")
        for b, c, p in (
            ("Tee", "Apparel", 24.0),
            ("Hoodie", "Apparel", 58.0),
            ("Mug", "Home", 16.0),
            ("Candle", "Home", 22.0),
            ("Serum", "Beauty", 39.0),
            ("Cleanser", "Beauty", 19.0),
        )
    )
)
_CONSENT = ("SUBSCRIBED", "SUBSCRIBED", "SUBSCRIBED", "UNSUBSCRIBED", "NEVER_SUBSCRIBED")


def seed_metrics(store: KlaviyoStore) -> None:
    for n, (name, integration, _) in enumerate(METRICS):
        mid = make_id(EPOCH, n, 6)
        store.metrics[mid] = {"id": mid, "name": name, "created": EPOCH, "integration": integration}


def seed_profiles(store: KlaviyoStore, rng: random.Random, count: int) -> list[str]:
    ids: list[str] = []
    start = len(store.profiles)
    for i in range(start, start + count):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        created = EPOCH + rng.random() * SPAN * 0.6
        city, region, zip_code, country = rng.choice(_CITIES)
        email_ok = rng.random() < 0.92
        phone = (
            f"+1{(212, 312, 415, 617, 646, 718, 805, 917)[i % 8]}{234 + (i // 10000) % 600}"
            f"{i % 10000:04d}"
            if rng.random() < 0.4
            else None
        )
        profile: dict[str, Any] = {
            "id": make_id(created, i),
            "email": f"{_ascii(first)}.{_ascii(last)}.{i}@example.com"
            if email_ok or not phone
            else None,
            "phone_number": phone,
            "external_id": f"shop-{100000 + i}" if rng.random() < 0.7 else None,
            "first_name": first,
            "last_name": last,
            "organization": None,
            "locale": rng.choice(("en-US", "en-GB", "de-DE", "fr-FR")),
            "title": None,
            "created": float(int(created)),
            "updated": float(int(created + rng.random() * (EPOCH + SPAN - created))),
            "location": {
                "city": city,
                "region": region,
                "zip": zip_code,
                "country": country,
                "timezone": None,
                "address1": None,
                "address2": None,
                "ip": None,
                "latitude": None,
                "longitude": None,
            },
            "properties": {"source": rng.choice(("shopify", "popup", "import"))},
            "subscriptions": {
                "email": rng.choice(_CONSENT),
                "sms": rng.choice(("SUBSCRIBED", "UNSUBSCRIBED")) if phone else None,
                "at": float(int(created)),
            },
        }
        store.put_profile(profile)
        ids.append(profile["id"])
    return ids


def seed_events(
    store: KlaviyoStore, rng: random.Random, count: int, *, at: float | None = None
) -> int:
    """``count`` events over existing profiles; ``at`` pins them near a time (new activity)."""
    if not store.metrics:
        seed_metrics(store)
    metric_ids = {m["name"]: mid for mid, m in store.metrics.items()}
    names = [name for name, _, _ in METRICS]
    weights = [w for _, _, w in METRICS]
    pids = list(store.profiles)
    if not pids:
        return 0
    events = []
    for name, pid in zip(
        rng.choices(names, weights, k=count), rng.choices(pids, k=count), strict=True
    ):
        n = store.next_n()
        ts = float(int(at + rng.random() * 5)) if at is not None else _event_time(rng, store, pid)
        events.append(
            {
                "id": make_id(ts, n, 22),
                "metric_id": metric_ids[name],
                "profile_id": pid,
                "timestamp": ts,
                "uuid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "properties": _properties(rng, name, n),
            }
        )
    return store.add_events(events)


def _ascii(text: str) -> str:
    return text.lower().replace("é", "e").replace("ü", "u")


def _event_time(rng: random.Random, store: KlaviyoStore, pid: str) -> float:
    created = store.profiles[pid]["created"]
    return float(int(created + rng.random() * (EPOCH + SPAN - created)))


def _properties(rng: random.Random, name: str, n: int) -> dict[str, Any]:
    if name in ("Placed Order", "Started Checkout"):
        picks = rng.sample(_PRODUCTS, rng.randint(1, 3))
        items: list[dict[str, Any]] = [
            {
                "ProductID": pid,
                "SKU": f"SKU-{pid}",
                "ProductName": pname,
                "Quantity": q,
                "ItemPrice": price,
                "RowTotal": price * q,
                "Categories": [cat],
            }
            for (pid, pname, cat, price), q in ((p, rng.randint(1, 2)) for p in picks)
        ]
        return {
            "$event_id": f"{1000 + n}",
            "$value": round(sum(i["RowTotal"] for i in items), 2),
            "Currency": "USD",
            "Items": items,
            "ItemNames": [i["ProductName"] for i in items],
            "Categories": sorted({c for i in items for c in i["Categories"]}),
        }
    if name in ("Ordered Product", "Viewed Product"):
        pid, pname, cat, price = rng.choice(_PRODUCTS)
        props: dict[str, Any] = {
            "ProductID": pid,
            "ProductName": pname,
            "Categories": [cat],
            "Price": price,
            "$event_id": f"{name[:1]}{n}",
        }
        if name == "Ordered Product":
            props |= {"$value": price, "Quantity": 1, "SKU": f"SKU-{pid}"}
        return props
    if name in ("Opened Email", "Clicked Email"):
        props = {
            "Campaign Name": rng.choice(("Spring sale", "New arrivals", "Win-back")),
            "Subject": "Something new for you",
            "$message": f"M{n % 97}",
        }
        if name == "Clicked Email":
            props["URL"] = "https://shop.example.com/collections/new"
        return props
    return {"page": "https://shop.example.com/"}


def seed_people(store: KlaviyoStore, people: list[dict[str, Any]], at: float) -> list[str]:
    """Profiles for given people (``email``, ``phone``, ``first_name``, ``last_name``,
    ``country``, ``city``, ``email_consent`` granted/denied/unknown, ``external_id``), so the
    same person can be seeded into several emulators."""
    status = {"granted": "SUBSCRIBED", "denied": "UNSUBSCRIBED"}
    ids: list[str] = []
    start = len(store.profiles)
    for n, person in enumerate(people, start=start):
        profile: dict[str, Any] = {
            "id": make_id(at, n),
            "email": person.get("email"),
            "phone_number": person.get("phone"),
            "external_id": person.get("external_id"),
            "first_name": person.get("first_name"),
            "last_name": person.get("last_name"),
            "organization": None,
            "locale": None,
            "title": None,
            "created": float(int(at)),
            "updated": float(int(at)),
            "location": {
                "city": person.get("city"),
                "region": None,
                "zip": None,
                "country": person.get("country"),
                "timezone": None,
                "address1": None,
                "address2": None,
                "ip": None,
                "latitude": None,
                "longitude": None,
            },
            "properties": {},
            "subscriptions": {
                "email": status.get(str(person.get("email_consent")), "NEVER_SUBSCRIBED"),
                "sms": None,
                "at": float(int(at)),
            },
        }
        store.put_profile(profile)
        ids.append(profile["id"])
    return ids
