"""Writes a realistic Segment S3-destination archive, deterministically from a seed.

Layout (segment-docs ``src/connections/storage/catalog/aws-s3``):
``<root>/segment-logs/<source-id>/<received-day UTC midnight, epoch ms>/<file>.gz``, each file
gzipped newline-delimited JSON, one Segment message per line. The file name pattern is not
documented; ours is ``<hour epoch ms>.<8 hex>.gz``.

The story the data tells, so identity resolution has something real to do: known customers
browse anonymously first (web and iOS, ``anonymousId`` only), are identified on one day
(``identify`` with traits, then ``alias`` anonymousId → userId), browse as known users and buy
(``Order Completed`` from the server source, ``userId`` only, ecommerce spec v2 properties).
Anonymous-only visitors never identify. A small share of lines repeats in a later file with
the same ``messageId`` (Segment delivers at least once), which the reader must deduplicate.

Dates are current: by default the archive's days end the day before the current week starts
(Monday, UTC), so a model run as of today sees a shop that is still trading (issue 16), and
every archive written in the same week with the same seed is identical.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["ArchiveManifest", "Person", "person", "write_archive"]

DAY_MS = 86_400_000


def week_start(today: date | None = None) -> date:
    """Monday of the current UTC week: the archive's dates are relative to it."""
    today = today or datetime.now(UTC).date()
    return today - timedelta(days=today.weekday())


_FIRST = [
    "ann",
    "bob",
    "chloe",
    "dev",
    "eva",
    "farid",
    "greta",
    "hugo",
    "ines",
    "jon",
    "kemi",
    "liam",
    "mia",
    "nora",
    "omar",
    "pia",
    "quinn",
    "rosa",
    "sam",
    "tara",
    "uma",
    "vik",
]
_LAST = [
    "lee",
    "smith",
    "garcia",
    "novak",
    "okafor",
    "rossi",
    "berg",
    "khan",
    "dubois",
    "ito",
    "silva",
    "murphy",
    "kowal",
    "nguyen",
    "haas",
    "moreau",
    "patel",
    "jensen",
]
_CITIES = [
    ("San Francisco", "CA", "94107", "US", "415"),
    ("New York", "NY", "10001", "US", "212"),
    ("Austin", "TX", "73301", "US", "512"),
    ("Seattle", "WA", "98101", "US", "206"),
    ("Chicago", "IL", "60601", "US", "312"),
    ("Boston", "MA", "02108", "US", "617"),
]
_CATEGORIES = ["Games", "Books", "Toys", "Kitchen", "Garden", "Outdoor", "Music", "Apparel"]
_PAGES = ["/", "/sale", "/new", "/about", "/search", "/category/games", "/category/books"]


@dataclass(frozen=True, slots=True)
class Person:
    """A known customer: one userId, one or two devices (anonymousIds), contact traits."""

    index: int
    user_id: str
    anonymous_ids: tuple[str, ...]
    first_name: str
    last_name: str
    email: str
    phone: str
    city: tuple[str, str, str, str, str]
    created_at: str

    def traits(self) -> dict[str, Any]:
        city, state, postal, country, _ = self.city
        return {
            "email": self.email,
            "phone": self.phone,
            "firstName": self.first_name.title(),
            "lastName": self.last_name.title(),
            "address": {"city": city, "state": state, "postalCode": postal, "country": country},
            "createdAt": self.created_at,
            "plan": "member",
        }


def person(i: int, seed: int = 0) -> Person:
    """The ``i``-th known customer of the archive generated from ``seed``."""
    rng = random.Random(f"segment-person:{seed}:{i}")
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    city = rng.choice(_CITIES)
    devices = 1 if rng.random() < 0.7 else 2
    anon = tuple(_uuid(rng) for _ in range(devices))
    return Person(
        index=i,
        user_id=f"usr_{seed % 1000:03d}{i:07d}",
        anonymous_ids=anon,
        first_name=first,
        last_name=last,
        email=f"{first}.{last}.{i}@shop.example",
        phone=f"+1{city[4]}555{i % 10000:04d}",
        city=city,
        # signed up 31 to 730 days before this week
        created_at=f"{week_start() - timedelta(days=31 + i * 7919 % 700)}T10:00:00.000Z",
    )


@dataclass
class ArchiveManifest:
    """What was written, for tests and the demo to check the pull against."""

    root: Path
    source_ids: dict[str, str]  # role (web, ios, server) → Segment source id
    days: list[int]
    unique_events: int = 0
    lines: int = 0
    files: int = 0
    types: dict[str, int] = field(default_factory=dict)
    known_pairs: list[tuple[str, str]] = field(default_factory=list)  # (anonymousId, userId)
    buyers: int = 0


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _iso(ms: int) -> str:
    return _second(ms // 1000) + f"{ms % 1000:03d}Z"


@lru_cache(maxsize=4096)
def _second(s: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.`` of a second: four stamps a message, mostly of a few seconds
    (4.2 µs a stamp before, 0.75 µs now: about a fifth of an archive's writing time)."""
    return datetime.fromtimestamp(s, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


class _Writer:
    """Builds messages for one archive; keeps the catalogue and counters."""

    def __init__(self, rng: random.Random, manifest: ArchiveManifest) -> None:
        self.rng = rng
        self.m = manifest
        self.products: list[dict[str, Any]] = [
            {
                "product_id": f"{rng.getrandbits(48):012x}",
                "sku": f"{10000 + n}-{n % 90 + 10}",
                "name": f"Product {n}",
                "category": _CATEGORIES[n % len(_CATEGORIES)],
                "brand": f"Brand {n % 17}",
                "price": round(3 + (n * 7.31) % 120, 2),
            }
            for n in range(200)
        ]

    def envelope(
        self, role: str, kind: str, ms: int, user: str | None, anon: str | None
    ) -> dict[str, Any]:
        lib = {
            "web": ("analytics.js", "next-1.70.0"),
            "ios": ("analytics-ios", "4.1.8"),
            "server": ("analytics-python", "2.4.0"),
        }[role]
        sent = ms + self.rng.randrange(5, 900)
        self.m.types[kind] = self.m.types.get(kind, 0) + 1
        return {
            "anonymousId": anon,
            "userId": user,
            "type": kind,
            "messageId": f"{'ajs-next-' if role == 'web' else ''}{self.rng.getrandbits(128):032x}",
            "timestamp": _iso(ms),
            "originalTimestamp": _iso(ms),
            "sentAt": _iso(sent),
            "receivedAt": _iso(sent + 40),
            "channel": "server" if role == "server" else "client",
            "context": {"library": {"name": lib[0], "version": lib[1]}},
            "integrations": {},
            "projectId": self.m.source_ids[role],
            "version": 2,
        }

    def browse(self, role: str, ms: int, user: str | None, anon: str | None) -> dict[str, Any]:
        r = self.rng.random()
        product = self.rng.choice(self.products)
        if r < 0.4 and role == "web":
            msg = self.envelope(role, "page", ms, user, anon)
            path = self.rng.choice(_PAGES)
            msg["name"] = path.strip("/") or "home"
            msg["properties"] = {
                "path": path,
                "url": f"https://shop.example{path}",
                "title": "Shop",
            }
            return msg
        msg = self.envelope(role, "track", ms, user, anon)
        if r < 0.75:
            msg["event"] = "Product Viewed"
            msg["properties"] = {**product, "currency": "USD"}
        elif r < 0.92:
            msg["event"] = "Product Added"
            msg["properties"] = {
                **product,
                "quantity": 1 + self.rng.randrange(2),
                "cart_id": f"{self.rng.getrandbits(40):010x}",
            }
        else:
            msg["event"] = "Checkout Started"
            msg["properties"] = {
                "order_id": f"{self.rng.getrandbits(48):012x}",
                "value": product["price"],
                "revenue": product["price"],
                "currency": "USD",
                "products": [{**product, "quantity": 1}],
            }
        return msg

    def order(self, ms: int, user: str) -> dict[str, Any]:
        msg = self.envelope("server", "track", ms, user, None)
        items: list[dict[str, Any]] = [
            {**p, "quantity": 1 + self.rng.randrange(3), "position": n + 1}
            for n, p in enumerate(self.rng.sample(self.products, 1 + self.rng.randrange(3)))
        ]
        revenue = round(sum(p["price"] * p["quantity"] for p in items), 2)
        shipping, tax = 4.99, round(revenue * 0.08, 2)
        msg["event"] = "Order Completed"
        msg["properties"] = {
            "checkout_id": f"{self.rng.getrandbits(64):016x}",
            "order_id": f"{self.rng.getrandbits(48):012x}",
            "affiliation": "Online Store",
            "subtotal": revenue,
            "revenue": revenue,
            "shipping": shipping,
            "tax": tax,
            "discount": 0,
            "total": round(revenue + shipping + tax, 2),
            "currency": "USD",
            "products": items,
        }
        return msg


def write_archive(
    root: Path,
    *,
    users: int = 1_000,
    events: int = 20_000,
    seed: int = 0,
    days: int = 30,
    start: date | None = None,
    duplicate_rate: float = 0.003,
) -> ArchiveManifest:
    """Write ``events`` unique messages about ``users`` known customers under ``root``, on
    ``days`` days from ``start`` (default: the ``days`` days before this week's Monday)."""
    start = start or week_start() - timedelta(days=days)
    rng = random.Random(f"segment-archive:{seed}")
    source_ids = {
        role: "".join(
            rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789")
            for _ in range(10)
        )
        for role in ("web", "ios", "server")
    }
    start_ms = int(datetime(start.year, start.month, start.day, tzinfo=UTC).timestamp() * 1000)
    manifest = ArchiveManifest(root, source_ids, [start_ms + d * DAY_MS for d in range(days)])
    w = _Writer(rng, manifest)
    people = [person(i, seed) for i in range(users)]
    ident_at = [start_ms + rng.randrange(days) * DAY_MS + rng.randrange(DAY_MS) for _ in people]
    buyers = {i for i in range(users) if rng.random() < 0.6}
    manifest.buyers = len(buyers)
    visitors = [_uuid(rng) for _ in range(max(1, users // 2))]
    scheduled = 2 * users + len(buyers)
    if events < scheduled:
        raise ValueError(f"events must be at least {scheduled} for {users} users")
    per_day = [
        (events - scheduled) // days + (1 if d < (events - scheduled) % days else 0)
        for d in range(days)
    ]
    order_at = {
        i: ident_at[i] + rng.randrange(max(1, start_ms + days * DAY_MS - ident_at[i] - 10))
        for i in sorted(buyers)
    }
    browsed_anon: set[int] = set()
    by_day: dict[int, list[int]] = defaultdict(list)
    for i in range(users):
        by_day[(ident_at[i] - start_ms) // DAY_MS].append(i)
        if i in order_at:
            by_day[(order_at[i] + 2 - start_ms) // DAY_MS].append(i)
    for d, day_ms in enumerate(manifest.days):
        out: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
        for i in sorted(set(by_day.get(d, ()))):
            p = people[i]
            if day_ms <= ident_at[i] < day_ms + DAY_MS:
                ms = ident_at[i]
                ident = w.envelope("web", "identify", ms, p.user_id, p.anonymous_ids[0])
                ident["traits"] = p.traits()
                out[("web", ms)].append(ident)
                alias = w.envelope("web", "alias", ms + 1, p.user_id, p.anonymous_ids[0])
                alias["previousId"] = p.anonymous_ids[0]
                out[("web", ms + 1)].append(alias)
            if i in order_at and day_ms <= order_at[i] + 2 < day_ms + DAY_MS:
                out[("server", order_at[i] + 2)].append(w.order(order_at[i] + 2, p.user_id))
        for _ in range(per_day[d]):
            ms = day_ms + rng.randrange(DAY_MS)
            if rng.random() < 0.7:
                i = rng.randrange(users)
                p = people[i]
                device = rng.randrange(len(p.anonymous_ids))
                role = "web" if device == 0 else "ios"
                known = ms > ident_at[i]
                if not known and device == 0:
                    browsed_anon.add(i)  # device 0 is the one the alias call links
                msg = w.browse(role, ms, p.user_id if known else None, p.anonymous_ids[device])
            else:
                msg = w.browse("web", ms, None, rng.choice(visitors))
            out[(_role(msg, source_ids), ms)].append(msg)
        _flush_day(root, day_ms, out, manifest, rng=rng, duplicate_rate=duplicate_rate)
    manifest.known_pairs = [
        (people[i].anonymous_ids[0], people[i].user_id) for i in sorted(buyers & browsed_anon)
    ]
    return manifest


def _role(msg: dict[str, Any], source_ids: dict[str, str]) -> str:
    return next(role for role, sid in source_ids.items() if sid == msg["projectId"])


def _flush_day(
    root: Path,
    day_ms: int,
    out: dict[tuple[str, int], list[dict[str, Any]]],
    manifest: ArchiveManifest,
    *,
    rng: random.Random,
    duplicate_rate: float,
) -> None:
    files: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for (role, ms), msgs in sorted(out.items(), key=lambda kv: kv[0][1]):
        hour = min(23, (ms - day_ms) // 3_600_000)
        files[(role, hour)].extend(msgs)
        manifest.unique_events += len(msgs)
        if duplicate_rate and rng.random() < duplicate_rate * len(msgs):
            later = min(23, hour + 1)  # a retried upload lands in the next hourly file
            files[(role, later)].append(msgs[0])
    for (role, hour), msgs in sorted(files.items()):
        folder = root / "segment-logs" / manifest.source_ids[role] / str(day_ms)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{day_ms + hour * 3_600_000}.{rng.getrandbits(32):08x}.gz"
        with gzip.open(folder / name, "wt", encoding="utf-8", compresslevel=1) as fh:
            fh.writelines(_lines(msgs))
        manifest.files += 1
        manifest.lines += len(msgs)


def _lines(msgs: list[dict[str, Any]]) -> Iterator[str]:
    for msg in msgs:
        yield json.dumps(msg, separators=(",", ":")) + "\n"
