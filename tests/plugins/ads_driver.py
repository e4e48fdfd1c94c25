"""A stand-in for the core planner + apply engine, just enough to drive the ad sinks.

It keeps a ledger of delivered memberships per segment, diffs the desired membership against
it (consent filtered with ``connector.sync.consent.allowed``), chunks the changes by
``sink.batch_size(kind)`` and records only OK outcomes, as the lead's engine will.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

import httpx

from connector.plugin.changes import Change, ChangeKind, Outcome, Recipient, SegmentRef
from connector.sync.consent import allowed

FIRST = ["Jöhn", "José", "Zoë", "Mary", "Ann-Marie", "Łukasz", "Chloé", "Seán", "Ali", "Kim"]
LAST = ["O'Brien", "García", "Müller", "Smith-Jones", "Lee", "Nguyễn", "Dubois", "Kowalski"]
CITIES = ["New York", "San José", "St. Louis", "Zürich", "Paris"]


@dataclass(slots=True)
class Person:
    recipient: Recipient
    consent: str
    clv: float


def people(n: int, *, seed: int = 1, offset: int = 0) -> dict[str, Person]:
    """Deterministic profiles with messy identifiers (case, spaces, national phone formats)."""
    rng = random.Random(seed)
    out: dict[str, Person] = {}
    for j in range(n):
        i = j + offset
        email = f"person{i}@example.com"
        style = i % 4
        if style == 1:
            email = f"  Person{i}@Example.COM "
        elif style == 2:
            email = email.upper()
        phone = f"({200 + i % 700:03d}) {200 + (i // 700) % 700:03d}-{i % 10000:04d}"
        if i % 5 == 0:
            phone = f"+1 {phone}"
        match = {
            "first_name": FIRST[i % len(FIRST)],
            "last_name": LAST[i % len(LAST)],
            "city": CITIES[i % len(CITIES)],
            "postal_code": f"{10000 + i % 89999:05d}",
            "country": "US",
        }
        consent = "granted" if rng.random() < 0.9 else rng.choice(["denied", "unknown"])
        pid = f"p{i}"
        out[pid] = Person(Recipient(pid, email=email, phone=phone, match=match), consent, i % 997)
    return out


def with_consent(person: Person) -> Recipient:
    """The person's recipient carrying their ads consent, as the planner builds it."""
    return replace(person.recipient, consent={"ads": person.consent})


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def email_hash(person: Person) -> str:
    return sha(person.recipient.email.strip().lower())  # type: ignore[union-attr]


@dataclass
class Driver:
    sink: Any
    policy: str = "strict"
    ledger: dict[str, dict[str, Recipient]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)
    rejected: dict[str, str] = field(default_factory=dict)
    requests_per_run: list[int] = field(default_factory=list)

    def run(self, segments: dict[SegmentRef, dict[str, Person]]) -> Counter[str]:
        """One run: prepare, diff every segment against the ledger, apply in chunks."""
        self.sink.prepare([], list(segments))
        run = Counter[str]()
        for segment, members in segments.items():
            delivered = self.ledger.setdefault(segment.id, {})
            wanted = {pid: p for pid, p in members.items() if allowed(p.consent, self.policy)}
            removes = [
                self._change(ChangeKind.REMOVE, delivered[pid], segment, {})
                for pid in delivered
                if pid not in wanted
            ]
            adds = [
                self._change(ChangeKind.ADD, with_consent(p), segment, {"clv": p.clv})
                for pid, p in wanted.items()
                if pid not in delivered
            ]
            for kind, changes in ((ChangeKind.REMOVE, removes), (ChangeKind.ADD, adds)):
                size = self.sink.batch_size(kind)
                for start in range(0, len(changes), size):
                    chunk = changes[start : start + size]
                    results = self.sink.apply(chunk)
                    assert len(results) == len(chunk)
                    for change, outcome in zip(chunk, results, strict=True):
                        self._record(change, outcome, delivered, run)
        self.outcomes.update(run)
        return run

    @staticmethod
    def _change(
        kind: ChangeKind, recipient: Recipient, segment: SegmentRef, traits: dict[str, Any]
    ) -> Change:
        key = f"{segment.id}:{recipient.profile_id}"
        return Change(kind, recipient, key, digest=kind.value, traits=traits, segment=segment)

    def _record(
        self, change: Change, outcome: Outcome, delivered: dict[str, Recipient], run: Counter[str]
    ) -> None:
        run[f"{change.kind.value}:{outcome.status.value}"] += 1
        pid = change.recipient.profile_id
        if outcome.status.value == "rejected":
            self.rejected[pid] = outcome.reason
        if outcome.status.value != "ok":
            return
        if change.kind is ChangeKind.ADD:
            delivered[pid] = change.recipient
        else:
            delivered.pop(pid, None)


_HEX = re.compile(r"[0-9a-fA-F]{64}")
_AT = re.compile(r"@")  # no legitimate payload field contains an at sign
_DIGITS = re.compile(r"\d{9,}")
_SESSION = re.compile(r"(?:session_id|accountId)\"?:\"?\d+")


def raw_identifier_leaks(texts: list[str]) -> list[str]:
    """Emails, long digit runs or our test names found outside hashes in recorded traffic."""
    leaks: list[str] = []
    names = {n.lower() for n in FIRST + LAST if len(n) >= 4}
    for text in texts:
        stripped = _SESSION.sub("", _HEX.sub("", unquote_plus(text)))
        leaks += [stripped[max(0, m.start() - 20) : m.end() + 20] for m in _AT.finditer(stripped)]
        leaks += [d for d in _DIGITS.findall(stripped) if len(d) >= 10]
        lowered = stripped.lower()
        leaks += [n for n in names if n in lowered]
    return leaks


def admin(base_url: str, name: str, **kwargs: object) -> dict:  # type: ignore[type-arg]
    method = "POST" if ("json" in kwargs or name == "reset") else "GET"
    response = httpx.request(method, f"{base_url}/__emulator__/{name}", timeout=60, **kwargs)
    response.raise_for_status()
    return response.json()  # type: ignore[no-any-return]


# ---- the Done-when scenario, shared by the fast test, the slow test and the benchmark -------
META_FAULTS = [
    {
        "path": "*/users",
        "status": 500,
        "count": 2,
        "body": {
            "error": {"message": "x", "type": "OAuthException", "code": 2, "is_transient": True}
        },
    },
    {
        "path": "*/users",
        "status": 400,
        "count": 2,
        "body": {
            "error": {
                "message": "x",
                "type": "OAuthException",
                "code": 17,
                "error_subcode": 2446079,
            }
        },
    },
]
GOOGLE_FAULTS = [{"path": "/v1/audienceMembers:*", "status": 503, "count": 3}]
SEGMENT_REFS = [
    SegmentRef("high_value", "High value customers"),
    SegmentRef("at_risk", "At risk"),
    SegmentRef("lapsed", "Lapsed buyers"),
]


def make_segments(n: int) -> tuple[dict[str, Person], dict[SegmentRef, dict[str, Person]]]:
    """Three overlapping segments of ``n`` profiles each over 2n people."""
    crowd = people(2 * n)
    ids = list(crowd)
    half = n // 2
    spans = [(0, n), (half, half + n), (n, 2 * n)]
    return crowd, {
        ref: {pid: crowd[pid] for pid in ids[a:b]}
        for ref, (a, b) in zip(SEGMENT_REFS, spans, strict=True)
    }


def seed_platform_users(meta_url: str, google_url: str, crowd: dict[str, Person]) -> None:
    """Meta knows 70% of our people, Google 60% (by email hash)."""
    persons = list(crowd.values())
    meta = [email_hash(p) for i, p in enumerate(persons) if i % 10 < 7]
    google = [email_hash(p) for i, p in enumerate(persons) if i % 10 < 6]
    admin(meta_url, "seed", json={"platform_users": {"EMAIL": meta}})
    admin(google_url, "seed", json={"platform_users": google})


def expected_members(members: dict[str, Person]) -> set[str]:
    return {email_hash(p) for p in members.values() if p.consent == "granted"}


def meta_members(meta_url: str) -> dict[str, set[str]]:
    state = admin(meta_url, "state")
    return {a["name"]: {m["EMAIL"] for m in a["members"]} for a in state["audiences"].values()}


def google_members(google_url: str) -> dict[str, set[str]]:
    state = admin(google_url, "state")
    return {k: set(v["emails"]) for k, v in state["user_lists"].items()}


def membership_requests(url: str, prefix: str) -> int:
    log = admin(url, "requests")["requests"]
    return sum(1 for r in log if prefix in r["path"])


def leaked(url: str) -> list[str]:
    log = admin(url, "requests", params={"body": 1})["requests"]
    texts = [
        (r.get("body") or "") + str(r["query"].get("payload", ""))
        for r in log
        if not r["path"].startswith("/__emulator__") and r["path"] != "/token"
    ]
    return raw_identifier_leaks(texts)
