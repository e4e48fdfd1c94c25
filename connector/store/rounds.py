"""A chunk of profile records in rounds, so that where a chunk ends changes nothing stored.

Whether a record is ``unchanged`` (``connector.store.unchanged``) depends on what its key's
earlier records stored, so a key's old version said again after a newer one must be judged
after the newer one is stored: then it is stored too, and the stream's last version wins, as
it does when the two versions come in different chunks. A round is stored as one chunk (the
store's merge folds a key's records of one chunk in order); a key's record starts a new round
when it could be judged unchanged: when every value it states is one the store or an earlier
record of its key in the chunk already states (a record stating a value nobody stated is never
unchanged, so it can share its predecessors' round). Keys with a tombstone (stored or in the
chunk) or nested traits take one record per round, since their merge in one chunk differs in
corner cases from their merge one at a time. A chunk whose keys are all different is one round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = ["Versions", "key_rounds"]

Versions = Callable[[list[int]], list[dict[str, Any]]]
"""The ``PROFILE_SCHEMA`` values of the given rows (``tombstone`` added for records)."""

_FIELDS = ("email", "phone", "first_name", "last_name", "city", "postal_code", "country")
_STATED = (*_FIELDS, "created_at", "consent_email", "consent_sms", "consent_ads")


def _said(row: dict[str, Any]) -> tuple[set[tuple[str, Any]], bool]:
    """The (field, value) pairs a version states, and whether its traits nest."""
    pairs: set[tuple[str, Any]] = {(f, row[f]) for f in _STATED if row.get(f) is not None}
    if row.get("ids") not in (None, "{}"):
        pairs.add(("ids", row["ids"]))
    traits = json.loads(row.get("traits") or "{}")
    nested = any(isinstance(v, dict | list) for v in traits.values())
    # values as Python compares them (1 == 1.0, as the unchanged check does)
    pairs |= {("traits." + k, json.dumps(v) if nested else v) for k, v in traits.items()}
    return pairs, nested


def _stored(con: duckdb.DuckDBPyConnection, keys: pa.Table) -> dict[tuple[str, str], Any]:
    """Per key of ``keys``: the stored version's pairs, or None when the key is tombstoned."""
    con.register("round_keys", keys)
    try:
        frame = con.execute(
            f"""SELECT p.source, p.source_id, {", ".join(f"p.{c}" for c in _STATED)},
                       p.ids, p.traits, t.source IS NOT NULL AS gone
                FROM round_keys k JOIN profile_records p USING (source, source_id)
                LEFT JOIN tombstones t USING (source, source_id)
                UNION ALL
                SELECT t.source, t.source_id, {", ".join("NULL" for _ in _STATED)},
                       NULL, NULL, true
                FROM round_keys k JOIN tombstones t USING (source, source_id)"""
        )
        names = [d[0] for d in frame.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in frame.fetchall()]
    finally:
        con.unregister("round_keys")
    out: dict[tuple[str, str], Any] = {}
    for row in rows:
        key = (row["source"], row["source_id"])
        out[key] = None if row["gone"] else _said(row)[0]
    return out


def key_rounds(
    con: duckdb.DuckDBPyConnection, keys: pa.Table, versions: Versions
) -> list[np.ndarray]:
    """Row numbers of ``keys`` (``source``, ``source_id``, ``pos``: the stream position) in
    rounds, each in stream order: storing the rounds one after another stores what storing the
    rows one at a time would."""
    n = keys.num_rows
    if n == 0:
        return []
    joined = pc.binary_join_element_wise(keys["source"], keys["source_id"], "\x1f")
    if pc.count_distinct(joined).as_py() == n:  # no key twice: one round, as given
        return [np.arange(n)]
    con.register("incoming_rounds", keys.append_column("rn", pa.array(range(n), pa.int64())))
    try:
        found = con.execute(
            """SELECT rn, count(*) OVER (PARTITION BY source, source_id) > 1 AS again
               FROM incoming_rounds ORDER BY pos"""
        ).fetchnumpy()
    finally:
        con.unregister("incoming_rounds")
    order, again = np.asarray(found["rn"]), np.asarray(found["again"], dtype=bool)
    repeated = order[again].tolist()  # rows of keys seen more than once, in stream order
    rounds = np.ones(n, dtype=np.int64)
    rounds[repeated] = _repeated_rounds(con, keys, repeated, versions(repeated))
    ranked = order[np.argsort(rounds[order], kind="stable")]  # stable: stream order kept
    cuts = np.flatnonzero(np.diff(rounds[ranked])) + 1
    return np.split(ranked, cuts)


def _repeated_rounds(
    con: duckdb.DuckDBPyConnection,
    keys: pa.Table,
    repeated: list[int],
    rows: list[dict[str, Any]],
) -> list[int]:
    """The round of each row of a repeated key (rows in stream order)."""
    subset = keys.select(["source", "source_id"]).take(pa.array(repeated, pa.int64()))
    stored = _stored(con, subset)
    said = [_said(row) for row in rows]
    keyed = list(zip(subset["source"].to_pylist(), subset["source_id"].to_pylist(), strict=True))
    strict = {k for k, row, (_, nested) in zip(keyed, rows, said, strict=True)
              if nested or row.get("tombstone") or (k in stored and stored[k] is None)}  # fmt: skip
    known: dict[tuple[str, str], set[tuple[str, Any]]] = {}
    at: dict[tuple[str, str], int] = {}
    out = []
    for key, (pairs, _) in zip(keyed, said, strict=True):
        if key not in at:
            at[key], known[key] = 1, set(stored.get(key) or ())
        elif key in strict or pairs <= known[key]:  # may be judged unchanged: a new round
            at[key] += 1
        known[key] |= pairs
        out.append(at[key])
    return out
