"""Live profile records into the data store as one Arrow table per chunk.

The bulk pull hands over validated live rows as Arrow (``PROFILE_SCHEMA``); records validated
one by one join them through ``profile_table``. The merge is the record path's own
(``DataStore.upsert_profile_records``): records of one key in a chunk fold in order (later
non-null values win, traits merge, consent by its precedence), stored values are kept where
the new one is absent, a replaced e-mail or phone is remembered in ``superseded_ids``, a live
record revives its key's tombstone unless it is older than the deletion, and a merged row whose
identifiers changed is signed again. A property test holds the two paths equal.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from connector.schema.consent import beats_sql, rank, restated, restated_sql
from connector.schema.records import ProfileRecord
from connector.store.identity_sig import identity_signature

__all__ = [
    "PROFILE_SCHEMA",
    "STORED_SCHEMA",
    "drop_reinstated",
    "keep_in_batch_superseded",
    "keep_superseded",
    "merge_partial",
    "profile_rows",
    "profile_table",
    "resign",
    "update_sql",
    "upsert_profile_table",
    "upsert_rows",
]

_CHANNELS = ("email", "sms", "ads")
_TS = pa.timestamp("us")
PROFILE_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_id", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("ids", pa.string()),
        ("id_sig", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("city", pa.string()),
        ("postal_code", pa.string()),
        ("country", pa.string()),
        ("created_at", _TS),
        ("updated_at", _TS),
        ("traits", pa.string()),
        *[(f"consent_{ch}{end}", _TS if end else pa.string()) for ch in _CHANNELS
          for end in ("", "_at")],
    ]
)  # fmt: skip
"""The profile_records columns a pull writes (``run_id`` is added when stored)."""

_CONSENT_COLUMNS = frozenset(c for ch in _CHANNELS for c in (f"consent_{ch}", f"consent_{ch}_at"))


def _naive(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=None) if ts is not None else None


def profile_rows(records: Sequence[ProfileRecord]) -> list[dict[str, Any]]:
    """Live records as ``PROFILE_SCHEMA`` rows, in order."""
    rows: list[dict[str, Any]] = []
    for r in records:
        row: dict[str, Any] = {
            "source": r.source,
            "source_id": r.source_id,
            "email": r.email,
            "phone": r.phone,
            "ids": json.dumps(r.ids, sort_keys=True),
            "id_sig": identity_signature(r.email, r.phone, r.ids),
            "first_name": r.first_name,
            "last_name": r.last_name,
            "city": r.city,
            "postal_code": r.postal_code,
            "country": r.country,
            "created_at": _naive(r.created_at),
            "updated_at": _naive(r.updated_at),
            "traits": json.dumps(r.traits, sort_keys=True, default=str),
        }
        for channel in _CHANNELS:
            status, at = r.consent.get(channel, (None, None))
            row[f"consent_{channel}"] = str(status) if status else None
            row[f"consent_{channel}_at"] = _naive(at)
        rows.append(row)
    return rows


def profile_table(records: Sequence[ProfileRecord]) -> pa.Table:
    """Live records as a ``PROFILE_SCHEMA`` table, in order."""
    return pa.Table.from_pylist(profile_rows(records), schema=PROFILE_SCHEMA)


def _fold_consent(old: dict[str, Any], new: dict[str, Any], out: dict[str, Any]) -> None:
    """Per channel, keep whichever statement prevails (``connector.schema.consent``).

    Status and timestamp travel as a pair: taking a new status with an old timestamp would
    date an undated denial and let a later grant elsewhere beat it.
    """
    for ch in _CHANNELS:
        s, at = f"consent_{ch}", f"consent_{ch}_at"
        again = restated(new.get(s), new.get(at), new.get("updated_at"), old.get(s), old.get(at))
        keep = (
            old if again or rank(old.get(s), old.get(at)) > rank(new.get(s), new.get(at)) else new
        )
        out[s], out[at] = keep.get(s), keep.get(at)


def stored_consent(
    con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """The stored consent of the keys that come more than once in ``rows``: their versions
    fold over it one by one (``merge_partial``), as they would in one pull each."""
    seen: set[tuple[str, str]] = set()
    twice: set[tuple[str, str]] = set()
    for row in rows:
        key = (row["source"], row["source_id"])
        (twice if key in seen else seen).add(key)
    if not twice:
        return {}
    cols = [c for ch in _CHANNELS for c in (f"consent_{ch}", f"consent_{ch}_at")]
    con.register(
        "_repeated_keys",
        pa.table({k: [t[i] for t in twice] for i, k in enumerate(("source", "source_id"))}),
    )
    try:
        found = con.execute(
            f"""SELECT source, source_id, {", ".join(cols)} FROM profile_records
                JOIN _repeated_keys USING (source, source_id)"""
        ).fetchall()
    finally:
        con.unregister("_repeated_keys")
    return {(r[0], r[1]): dict(zip(cols, r[2:], strict=True)) for r in found}


def merge_partial(
    rows: list[dict[str, Any]],
    superseded: list[tuple[str, str, str]],
    stored: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> dict[tuple[str, str], dict[str, Any]]:
    """Fold records of one key in a batch: later non-null values win, traits merge.

    Sources such as Segment send partial records (an identify call carries only the traits it
    sets), so a record never erases what an earlier one said; the same rule applies against
    what is already stored (``coalesce`` in the upsert). Consent folds by its own precedence.
    An email or phone replaced by a later version goes to ``superseded`` as an identity key.
    ``stored`` (``stored_consent``): the first version's consent folds over what is stored,
    so a repeated grant keeps its stored date however many versions a batch holds.
    """
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["source"], row["source_id"])
        old = merged.get(key)
        if old is None:
            merged[key] = row
            if stored and key in stored:
                merged[key] = dict(row)
                _fold_consent(stored[key], row, merged[key])
            continue
        for kind in ("email", "phone"):
            if old[kind] and row[kind] and old[kind] != row[kind]:
                superseded.append((*key, f"{kind}:{old[kind]}"))
        traits = {**json.loads(old["traits"]), **json.loads(row["traits"])}
        merged[key] = {k: (v if v is not None else old.get(k)) for k, v in row.items()}
        merged[key]["traits"] = json.dumps(traits, sort_keys=True)
        _fold_consent(old, row, merged[key])
    return merged


def _one_per_key(
    con: duckdb.DuckDBPyConnection, rows: pa.Table, superseded: list[tuple[str, str, str]]
) -> tuple[pa.Table, pa.Table]:
    """The chunk as one row per key: the keys seen once as they are, and those seen more than
    once folded (``merge_partial``, their stored consent folded in)."""
    keys = pc.binary_join_element_wise(rows["source"], rows["source_id"], "\x1f")
    counts = pc.value_counts(keys)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
    if len(repeated) == 0:
        return rows, rows.schema.empty_table()
    twice = pc.is_in(keys, value_set=repeated)
    versions = rows.filter(twice).to_pylist()
    folded = list(merge_partial(versions, superseded, stored_consent(con, versions)).values())
    for row in folded:  # the fold may combine identifiers of several versions
        ids = json.loads(row["ids"] or "{}")
        row["id_sig"] = identity_signature(row["email"], row["phone"], ids)
    return rows.filter(pc.invert(twice)), pa.Table.from_pylist(folded, rows.schema)


def _consent_update(column: str) -> str:
    """The ON CONFLICT assignment of one consent column: the prevailing statement's value (a
    restatement of the stored one keeps the stored date, ``connector.schema.consent``)."""
    ch = column.removeprefix("consent_").removesuffix("_at")
    s, at = f"consent_{ch}", f"consent_{ch}_at"
    new, old = (
        (f"excluded.{s}", f"excluded.{at}"),
        (f"profile_records.{s}", f"profile_records.{at}"),
    )
    again = restated_sql(*new, "excluded.updated_at", *old)
    beats = beats_sql(*new, *old)
    return (
        f"{column} = CASE WHEN NOT {again} AND {beats}"
        f" THEN excluded.{column} ELSE profile_records.{column} END"
    )


def update_sql(column: str, *, folded: bool = False) -> str:
    """The ON CONFLICT assignment of one profile_records column (the merge rule). A
    ``folded`` row's consent already prevailed over the stored one (``merge_partial``): it is
    taken as it is, since judging it again would read another version's ``updated_at`` as the
    date of its statement."""
    if column == "traits":
        return f"{column} = json_merge_patch(profile_records.{column}, excluded.{column})"
    if column in _CONSENT_COLUMNS:
        return f"{column} = excluded.{column}" if folded else _consent_update(column)
    return f"{column} = coalesce(excluded.{column}, profile_records.{column})"


STORED_SCHEMA = PROFILE_SCHEMA.append(pa.field("run_id", pa.string()))
"""The rows an upsert takes: ``PROFILE_SCHEMA`` and the run that stored them."""
_COLS = STORED_SCHEMA.names


def _upsert_sql(*, folded: bool) -> str:
    return (
        f"INSERT INTO profile_records ({', '.join(_COLS)}) "
        f"SELECT {', '.join(_COLS)} FROM incoming_upsert "
        "ON CONFLICT (source, source_id) DO UPDATE SET "
        + ", ".join(update_sql(c, folded=folded) for c in _COLS if c not in ("source", "source_id"))
    )


_UPSERTS = {False: _upsert_sql(folded=False), True: _upsert_sql(folded=True)}


def upsert_rows(con: duckdb.DuckDBPyConnection, once: pa.Table, folded: pa.Table) -> None:
    """Upsert ``STORED_SCHEMA`` rows, one per key: those of keys seen once in their chunk under
    the merge rule, those ``merge_partial`` folded over their stored consent (``folded``) with
    the consent they folded to (``update_sql``)."""
    for is_folded, table in ((False, once), (True, folded)):
        if table.num_rows:
            con.register("incoming_upsert", table)
            try:
                con.execute(_UPSERTS[is_folded])
            finally:
                con.unregister("incoming_upsert")


def upsert_profile_table(con: duckdb.DuckDBPyConnection, rows: pa.Table, run_id: str) -> int:
    """Store live ``PROFILE_SCHEMA`` rows (in stream order); return how many keys were new."""
    if rows.num_rows == 0:
        return 0
    superseded: list[tuple[str, str, str]] = []
    rows = rows.select(PROFILE_SCHEMA.names)
    _revive(con, rows)
    once, folded = (
        t.append_column("run_id", pa.array([run_id] * t.num_rows, pa.string()))
        for t in _one_per_key(con, rows, superseded)
    )
    table = pa.concat_tables([once, folded])
    con.register("incoming_profiles", table)
    try:
        row = con.execute(
            "SELECT count(*) FROM incoming_profiles JOIN profile_records USING (source, source_id)"
        ).fetchall()
        known = int(row[0][0]) if row else 0
        keep_superseded(con, superseded, run_id)
        upsert_rows(con, once, folded)
        drop_reinstated(con)
        _refresh_signatures(con)
    finally:
        con.unregister("incoming_profiles")
    return int(table.num_rows) - known


def _revive(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """A live record revives its key's tombstone unless it is older than the deletion
    (``connector.store.tombstones``; the chunk's last record of the key decides)."""
    if not con.execute("SELECT 1 FROM tombstones LIMIT 1").fetchall():
        return
    keys = rows.select(["source", "source_id", "updated_at"])
    con.register("incoming_live", keys.append_column("rn", pa.array(range(keys.num_rows))))
    try:
        con.execute(
            """DELETE FROM tombstones t USING (
                   SELECT * FROM incoming_live
                   QUALIFY row_number() OVER (PARTITION BY source, source_id ORDER BY rn DESC) = 1
               ) i
               WHERE t.source = i.source AND t.source_id = i.source_id
                 AND NOT coalesce(i.updated_at < t.deleted_at, false)"""
        )
    finally:
        con.unregister("incoming_live")


def keep_superseded(
    con: duckdb.DuckDBPyConnection, in_batch: list[tuple[str, str, str]], run_id: str
) -> None:
    """Remember the stored emails and phones the incoming versions replace."""
    keep_in_batch_superseded(con, in_batch, run_id)
    for kind in ("email", "phone"):
        con.execute(
            f"""INSERT OR IGNORE INTO superseded_ids
                SELECT p.source, p.source_id, '{kind}:' || p.{kind}, ?
                FROM profile_records p JOIN incoming_profiles i USING (source, source_id)
                WHERE i.{kind} IS NOT NULL AND p.{kind} IS NOT NULL AND i.{kind} <> p.{kind}""",
            [run_id],
        )


def drop_reinstated(con: duckdb.DuckDBPyConnection) -> None:
    """After the merge: an email or phone a record carries again is no longer superseded
    (b, then a, then b again leaves only a superseded, in one chunk as across chunks)."""
    con.execute(
        """DELETE FROM superseded_ids s USING (
               SELECT p.source, p.source_id, 'email:' || p.email AS id_key
               FROM profile_records p JOIN incoming_profiles i USING (source, source_id)
               WHERE p.email IS NOT NULL
               UNION ALL
               SELECT p.source, p.source_id, 'phone:' || p.phone
               FROM profile_records p JOIN incoming_profiles i USING (source, source_id)
               WHERE p.phone IS NOT NULL) AS r
           WHERE s.source = r.source AND s.source_id = r.source_id AND s.id_key = r.id_key"""
    )


def resign(con: duckdb.DuckDBPyConnection, stale: list[tuple[str, str, str]]) -> None:
    """Set ``id_sig`` of (sig, source, source_id) rows in one set-based statement: executemany
    ran one UPDATE per row, 2.5 ms each against a million records (25 s for the 10,000
    changed profiles of the scale benchmark's 1 % run)."""
    if not stale:
        return
    sigs, sources, ids_ = (list(col) for col in zip(*stale, strict=True))
    con.register("resigned", pa.table({"sig": sigs, "source": sources, "source_id": ids_}))
    try:
        con.execute(
            """UPDATE profile_records p SET id_sig = r.sig FROM resigned r
               WHERE p.source = r.source AND p.source_id = r.source_id"""
        )
    finally:
        con.unregister("resigned")


def keep_in_batch_superseded(
    con: duckdb.DuckDBPyConnection, in_batch: list[tuple[str, str, str]], run_id: str
) -> None:
    """Remember the emails and phones a chunk's later versions of a key replaced (one insert:
    ``executemany`` costs milliseconds a row)."""
    if not in_batch:
        return
    source, source_id, id_key = (list(c) for c in zip(*in_batch, strict=True))
    rows = pa.table({"source": source, "source_id": source_id, "id_key": id_key})
    con.register("superseded_in_batch", rows)
    try:
        con.execute(
            """INSERT OR IGNORE INTO superseded_ids
               SELECT DISTINCT source, source_id, id_key, ? FROM superseded_in_batch""",
            [run_id],
        )
    finally:
        con.unregister("superseded_in_batch")


def _refresh_signatures(con: duckdb.DuckDBPyConnection) -> None:
    """A merged record's identifiers may differ from the incoming ones: re-sign those rows
    (a row whose identifiers are the incoming ones took the incoming, correct, signature)."""
    rows = con.execute(
        """SELECT p.source, p.source_id, p.email, p.phone, p.ids, p.id_sig
           FROM profile_records p JOIN incoming_profiles i USING (source, source_id)
           WHERE p.email IS DISTINCT FROM i.email OR p.phone IS DISTINCT FROM i.phone
              OR p.ids IS DISTINCT FROM i.ids"""
    ).fetchall()
    stale = [
        (sig, src, sid)
        for src, sid, email, phone, ids, old in rows
        if (sig := identity_signature(email, phone, json.loads(ids or "{}"))) != old
    ]
    resign(con, stale)
