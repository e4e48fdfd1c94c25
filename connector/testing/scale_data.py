"""Generated input for the whole-run scale benchmark: profiles as JSON lines, events as Parquet.

Vectorised (numpy + pyarrow) so generating a million profiles and ten million events takes
seconds, not the minutes a dict per row would. Deterministic for a seed. Events identify their
person by e-mail (a tenth of them in upper case, so normalisation has work to do); about 30 %
of profiles carry a phone number in a national format; four of the ten events per profile are
orders. ``write_change`` writes the "1 % changed" delta as new files next to the first ones.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["AS_OF", "config_text", "write_change", "write_initial"]

AS_OF = "2026-01-01"
_START = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
# events run up to as_of: the sufficiency guard wants buyers in the last 30 days
_SPAN = int(datetime(2025, 12, 31, tzinfo=UTC).timestamp()) - _START
_COUNTRIES = np.array(["United Kingdom", "FR", "Germany", "US", "es", "Netherlands"])
_OTHER = np.array(["product_viewed", "page_viewed", "email_opened", "added_to_cart"])
# the input files are dated before the first run's cursor, as files dropped earlier are
_OLD = datetime(2025, 6, 1, tzinfo=UTC).timestamp()


def _iso(seconds: np.ndarray) -> np.ndarray:
    stamps = seconds.astype("datetime64[s]")
    return np.char.add(np.datetime_as_string(stamps, unit="s").astype(str), "Z")


def _emails(ids: np.ndarray) -> np.ndarray:
    return np.char.add(np.char.add("person", ids.astype(str)), "@example.org")


def _profiles_jsonl(path: Path, ids: np.ndarray, rng: np.random.Generator, tag: str) -> None:
    n = len(ids)
    updated = _iso(_START + rng.integers(0, _SPAN, n))
    if tag:  # a change is dated after everything the first run read
        updated[:] = "2025-12-15T00:00:00Z"
    country = _COUNTRIES[rng.integers(0, len(_COUNTRIES), n)]
    phones = rng.integers(2_000_000, 9_999_999, n)
    has_phone = rng.random(n) < 0.3
    ads = np.where(rng.random(n) < 0.9, "granted", "denied")
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            pid = int(ids[i])
            phone = f',"phone":"(415) {phones[i] // 10000:03d}-{phones[i] % 10000:04d}"'
            fh.write(
                f'{{"source_id":"c{pid}","email":"person{pid}@example.org",'
                f'"first_name":"P{pid}{tag}","country":"{country[i]}",'
                f'"updated_at":"{updated[i]}"{phone if has_phone[i] else ""},'
                f'"consent":{{"email":"granted","ads":"{ads[i]}"}}}}\n'
            )


def _events_parquet(
    path: Path, ids: np.ndarray, per_profile: int, rng: np.random.Generator, prefix: str
) -> None:
    person = np.repeat(ids, per_profile)
    slot = np.tile(np.arange(per_profile), len(ids))
    n = len(person)
    orders = slot < max(1, per_profile * 4 // 10)
    kind = np.where(orders, "order_completed", _OTHER[rng.integers(0, len(_OTHER), n)])
    email = _emails(person)
    upper = rng.random(n) < 0.1
    email = np.where(upper, np.char.upper(email), email)
    revenue = np.where(orders, np.round(rng.gamma(2.0, 30.0, n), 2), np.nan)
    table = pa.table(
        {
            "source_event_id": np.char.add(prefix, np.arange(n).astype(str)),
            "type": kind,
            "occurred_at": _iso(_START + rng.integers(0, _SPAN, n)),
            "email": email,
            "revenue": pa.array(revenue, from_pandas=True),
            "currency": pa.array(["USD" if o else None for o in orders], pa.string()),
        }
    )
    pq.write_table(table, path, row_group_size=500_000)


def write_initial(root: Path, profiles: int, events_per_profile: int = 10, seed: int = 7) -> None:
    """``root/profiles/*.jsonl`` and ``root/events/*.parquet``, in files of 250k profiles."""
    rng = np.random.default_rng(seed)
    (root / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "events").mkdir(parents=True, exist_ok=True)
    step = 250_000
    for n, start in enumerate(range(0, profiles, step)):
        ids = np.arange(start, min(profiles, start + step))
        _profiles_jsonl(root / "profiles" / f"part-{n:03d}.jsonl", ids, rng, "")
        _events_parquet(
            root / "events" / f"part-{n:03d}.parquet", ids, events_per_profile, rng, f"e{n}-"
        )
    for path in [*root.glob("profiles/*"), *root.glob("events/*")]:
        os.utime(path, (_OLD, _OLD))


def write_change(root: Path, profiles: int, share: float = 0.01, seed: int = 8) -> int:
    """A new profiles file updating ``share`` of the profiles (a new first name and a later
    ``updated_at``) and a new events file with one more order each; returns how many."""
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(profiles, max(1, int(profiles * share)), replace=False))
    _profiles_jsonl(root / "profiles" / "changed-1.jsonl", ids, rng, "x")
    _events_parquet(root / "events" / "changed-1.parquet", ids, 1, rng, "chg-")
    return len(ids)


def config_text(root: Path, klaviyo_url: str | None = None) -> str:
    """``connector.toml`` for data under ``root/data``: files in, files out (and Klaviyo)."""
    klaviyo = (
        f"""
[destinations.klaviyo_out]
plugin = "klaviyo"
api_key = {{ env = "SCALE_KLAVIYO_KEY" }}
base_url = "{klaviyo_url}"
poll_interval = 0.05
segments = "all"
"""
        if klaviyo_url
        else ""
    )
    return f"""
[workspace]
path = "{root / "ws"}"

[logging]
level = "WARNING"

[model]
as_of = "{AS_OF}"

[sources.shop]
plugin = "files"
path = "{root / "data"}"
profiles = "profiles/*.jsonl"
events = "events/*.parquet"

[destinations.export]
plugin = "files"
path = "{root / "out"}"
segments = "all"
{klaviyo}"""
