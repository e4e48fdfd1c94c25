"""The privacy tests' scenario: a files source feeding every emulator destination.

The HubSpot and Klaviyo emulators are destinations only (their sources are disabled: read
back, they would hold the person as a live record of their own).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
from tests.gauntlet import ads_segment as ads
from tests.gauntlet import harness as h

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.pipeline.runner import RunSummary

FILES_SOURCE = """
[sources.shop]
plugin = "files"
path = "data"
lookback = "1h"
"""
PEOPLE = 40


def email_of(i: int) -> str:
    return f"tomb{i}@example.org"


def phone_of(i: int) -> str:
    return f"+1415555{1000 + i:04d}"


def people() -> list[dict[str, Any]]:
    return [
        {
            "source_id": f"c{i}",
            "email": email_of(i),
            "phone": phone_of(i),
            "first_name": f"T{i}",
            "updated_at": "2025-01-01T00:00:00Z",
            "consent": {"email": "granted", "ads": "granted"},
        }
        for i in range(PEOPLE)
    ]


def orders(prefix: str = "o") -> list[dict[str, Any]]:
    return [
        {
            "source_event_id": f"{prefix}{i}-{k}",
            "type": "order_completed",
            "occurred_at": f"2025-{1 + (i + k) % 11:02d}-{1 + i % 27:02d}T10:00:00Z",
            "email": email_of(i),
            "revenue": 10 + (i * 37 + k * 13) % 400,
            "currency": "USD",
        }
        for i in range(PEOPLE)
        for k in range(1 + i % 4)
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


@contextmanager
def scenario(tmp_path: Path) -> Iterator[tuple[Path, h.Platforms]]:
    with h.platforms(0) as p:
        root = tmp_path / "ws"
        cfg = h.write_config(root, p, extra=FILES_SOURCE)
        text = cfg.read_text()
        for name in ("hubspot", "klaviyo"):
            head = f'[sources.{name}]\nplugin = "{name}"\n'
            text = text.replace(head, head + "enabled = false\n")
        cfg.write_text(text)
        write_jsonl(root / "data" / "profiles" / "people.jsonl", people())
        write_jsonl(root / "data" / "events" / "orders.jsonl", orders())
        yield cfg, p


def run(cfg: Path, p: h.Platforms) -> RunSummary:
    ws = Workspace(load_config(cfg, env=p.env))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def profile_id(root: Path, email: str) -> str | None:
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    try:
        row = con.execute(
            "SELECT profile_id FROM identities WHERE kind = 'email' AND value = ?", [email]
        ).fetchone()
    finally:
        con.close()
    return str(row[0]) if row else None


def presence(p: h.Platforms, root: Path, email: str, pid: str | None = None) -> dict[str, bool]:
    """Where the person is a member of a list or audience (or flagged in a Segment trait)."""
    view = h.destination_view(p, root)
    pid = pid or profile_id(root, email)
    seg_flags = view["segment_traits"].get(email, {})
    return {
        "klaviyo": any(email in m for m in view["klaviyo_lists"].values()),
        "hubspot": any(email in m for m in view["hubspot_lists"].values()),
        "meta": any(h._meta_hash(email) in m for m in view["meta_audiences"].values()),
        "google": any(ads.google_hash(email) in m for m in view["google_lists"].values()),
        "segment": any(v is True for v in seg_flags.values()),
        "files": any(who in (email, pid) for _s, who in view["files"]["memberships"]),
    }


def everywhere(p: h.Platforms, root: Path) -> int:
    """Someone in the high tier, so Meta and Google hold them too: their index."""
    for i in range(PEOPLE):
        if all(presence(p, root, email_of(i)).values()):
            return i
    raise AssertionError("no person reached every destination")
