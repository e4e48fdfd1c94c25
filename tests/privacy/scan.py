"""Scanning a workspace and the emulators for a person's raw identifiers and their hashes."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import duckdb
from tests.gauntlet import ads_segment as ads
from tests.gauntlet import harness as h


def needles(email: str, phone: str, source_id: str) -> dict[str, str]:
    """What must not be found: raw values and the hashes Meta and Google receive."""
    return {
        "email": email,
        "phone": phone,
        "phone digits": phone.lstrip("+"),
        "meta email hash": h._meta_hash(email),
        "google email hash": ads.google_hash(email),
        "meta phone hash": h._meta_hash(phone),
        "google phone hash": ads.google_hash(phone),
        "source record": f'"{source_id}"',
    }


def data_store_hits(root: Path, values: dict[str, str]) -> list[str]:
    """Tables of the data store with a row holding any value (every column read as text)."""
    con = duckdb.connect(str(root / ".connector" / "data.duckdb"), read_only=True)
    hits = []
    try:
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            cols = [r[0] for r in con.execute(f'DESCRIBE "{table}"').fetchall()]
            row_text = " || '\x1f' || ".join(
                f"coalesce(CAST(\"{c}\" AS VARCHAR), '')" for c in cols
            )
            for label, value in values.items():
                bare = value.strip('"')
                n = con.execute(
                    f"""SELECT count(*) FROM "{table}" WHERE '\x1f' || {row_text} || '\x1f'
                        LIKE '%' || ? || '%'""",
                    [bare if label != "source record" else f"\x1f{bare}\x1f"],
                ).fetchone()
                if n and n[0]:
                    hits.append(f"data store {table}: {label}")
    finally:
        con.close()
    return hits


def state_hits(root: Path, values: dict[str, str]) -> list[str]:
    """Rows of the state store (every table, every column) holding a raw value or hash."""
    con = sqlite3.connect(f"file:{root / '.connector' / 'state.db'}?mode=ro", uri=True)
    hits = []
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in con.execute(f'SELECT * FROM "{table}"'):
                text = json.dumps([str(v) for v in row])
                hits += [
                    f"state {table}: {k}"
                    for k, v in values.items()
                    if k != "source record" and v in text
                ]
    finally:
        con.close()
    return hits


def file_hits(root: Path, values: dict[str, str]) -> list[str]:
    """Text files under the workspace root (reports, logs, the files destination)."""
    hits = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".jsonl", ".lock"):
            continue
        if "data" in path.relative_to(root).parts[:1]:
            continue  # the source's own input files
        text = path.read_bytes().decode("utf-8", "replace")
        hits += [
            f"{path.relative_to(root)}: {k}"
            for k, v in values.items()
            if k != "source record" and v in text
        ]
    return hits


def emulator_hits(p: h.Platforms, values: dict[str, str], email: str) -> list[str]:
    """Lists and audiences of every emulator (Segment: the person's segment flags)."""
    view = h.destination_view(p, Path("/nonexistent"))
    hits = []
    for kind in ("klaviyo_lists", "hubspot_lists", "meta_audiences", "google_lists"):
        text = json.dumps(view[kind])
        hits += [f"{kind}: {k}" for k, v in values.items() if k != "source record" and v in text]
    flags = view["segment_traits"].get(email, {})
    hits += [f"segment flag {k}" for k, v in flags.items() if v is True]
    return hits
