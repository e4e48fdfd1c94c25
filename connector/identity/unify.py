"""The unify stage: resolve identities, keep profile ids stable, then rebuild profiles.

Only the part of the identity graph that new, changed, merged or removed records touch is
resolved again (``connector.identity.graph``): its connected components, found set-based in
DuckDB. Every other profile keeps its id, identifiers and merge explanation as stored, which
is what resolving everything again would give, because resolution and id assignment never look
across components. Everything is resolved again when there is nothing to start from (a new or
upgraded store, after an erasure or ``connector state reset``), when the identity settings
changed, when asked (``run --full-refresh``), or when most of the graph is affected anyway.
A full resolution may run on the compute engine (``resolve_all``, Spark's in
``connector.engine.identity``), which gives the same `Resolution`.
Late-arriving links merge old profiles; the persisted key → profile id map keeps ids stable.
Fields and consent are rebuilt by ``connector.identity.profiles``.
"""

from __future__ import annotations

import gc
import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, fields

import duckdb
import pandas as pd

from connector.identity.changes import (
    dirty_after_replace,
    dirty_before_replace,
    dirty_events,
    dirty_inactive,
    inactive_before,
    move_events,
)
from connector.identity.graph import affected_nodes, build_graph
from connector.identity.ids import assign_profile_ids, minted_id
from connector.identity.lifecycle import mark_inactive
from connector.identity.profiles import rebuild_identities, rebuild_profiles
from connector.identity.resolver import IdentityRecord, Resolution, Resolver, resolve
from connector.store.datastore import DataStore, first_row

__all__ = ["UnifyResult", "unify"]

# bumped when the graph's tables change meaning, so a store resolved before is resolved whole
_GRAPH_VERSION = "1"
_SETTINGS = "unify_settings"


@dataclass(frozen=True, slots=True)
class UnifyResult:
    records: int
    profiles: int
    merged: int
    refused: int
    retired: int
    inactive: int = 0
    resolved: int = 0  # graph nodes resolved this run (all of them on a full recompute)
    full: bool = True


def _salt(store: DataStore) -> str:
    store.con.execute(
        "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
    )
    row = first_row(store.con.execute("SELECT value FROM store_meta WHERE key = 'id_salt'"))
    if row:
        return str(row[0])
    salt = secrets.token_hex(16)
    store.con.execute("INSERT INTO store_meta VALUES ('id_salt', ?)", [salt])
    return salt


def _settings(blocked: frozenset[str], max_ids_per_kind: int, salt: str) -> str:
    """A digest of what decides the resolution besides the data (never the salt itself)."""
    text = json.dumps([_GRAPH_VERSION, sorted(blocked), max_ids_per_kind, salt])
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = first_row(con.execute(sql))
    return int(row[0]) if row else 0


def _incremental(con: duckdb.DuckDBPyConnection, settings: str, full_above: float) -> bool:
    """Whether only the affected part is resolved (``ug_affected`` then holds it)."""
    row = first_row(con.execute("SELECT value FROM store_meta WHERE key = ?", [_SETTINGS]))
    if row is None or row[0] != settings or not _count(con, "SELECT count(*) FROM identity_edges"):
        return False
    limit = int(_count(con, "SELECT count(*) FROM ug_nodes") * full_above)
    return affected_nodes(con, limit) is not None


def _identity_records(
    con: duckdb.DuckDBPyConnection, incremental: bool
) -> tuple[list[IdentityRecord], dict[str, str]]:
    """The identity records to resolve and the id_sig each one stands for."""
    scope = "SEMI JOIN ug_affected USING (ref)" if incremental else ""
    rows = con.execute(
        f"""SELECT n.ref, any_value(n.sig), list(k.key) FILTER (WHERE k.key IS NOT NULL)
            FROM ug_nodes n {scope} LEFT JOIN ug_keys k USING (ref) GROUP BY n.ref"""
    ).fetchall()
    records = [IdentityRecord(ref, tuple(keys or ())) for ref, _sig, keys in rows]
    return records, {ref: sig for ref, sig, _keys in rows}


def _uncapped(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """Keys the resolver's cap does not count (``ug_uncapped``): those of merged-away records
    (one person's by the source's word) and the platform ids our destinations created."""
    return frozenset(str(k) for (k,) in con.execute("SELECT key FROM ug_uncapped").fetchall())


class _StoreIds:
    """The profile ids the store holds (identity map, retired ids), looked up as minting asks:
    the likely candidates in one query, any other one alone."""

    def __init__(self, con: duckdb.DuckDBPyConnection, likely: list[str]) -> None:
        self._con = con
        self._taken = dict.fromkeys(likely, False) | dict.fromkeys(self._held(likely), True)

    def _held(self, pids: list[str]) -> list[str]:
        return [
            str(r[0])
            for r in self._con.execute(
                """SELECT profile_id FROM identity_map WHERE profile_id IN (SELECT unnest($1))
                   UNION SELECT profile_id FROM retired_profiles
                   WHERE profile_id IN (SELECT unnest($1))""",
                [pids],
            ).fetchall()
        ]

    def __contains__(self, pid: object, /) -> bool:
        if not isinstance(pid, str):
            return False
        if pid not in self._taken:
            self._taken[pid] = bool(self._held([pid]))
        return self._taken[pid]

    def add(self, pid: str, /) -> None:
        self._taken[pid] = True


@dataclass(frozen=True, slots=True)
class _Assigned:
    """Profile ids of one resolution: per identity group (with its keys) and per record."""

    group_keys: list[tuple[frozenset[str], str]]
    pids: list[str]
    retired: dict[str, str]
    pid_of_ref: dict[str, str]


@dataclass(slots=True)
class _Tables:
    """The identity tables one unify writes, as frames registered for the transaction."""

    new_id_map: pd.DataFrame
    new_sig_map: pd.DataFrame
    new_merges: pd.DataFrame
    new_retired: pd.DataFrame

    def clear(self) -> None:
        """Let go of the frames once the store holds them."""
        for f in fields(self):
            setattr(self, f.name, pd.DataFrame())


@contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the resolution builds millions of small
    containers: none is in a cycle (reference counting frees them), and the collector would
    walk them all again and again (a tenth of a full resolution's time at 400k profiles).
    Not around the frames built afterwards (pandas leaves cycles, which must go as they come)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def unify(
    store: DataStore,
    *,
    blocked: tuple[str, ...],
    max_ids_per_kind: int,
    run_id: str,
    full: bool = False,
    full_above: float = 0.5,
    resolve_all: Resolver = resolve,
) -> UnifyResult:
    """Resolve and rebuild. ``full`` resolves every record; otherwise only the affected part,
    unless it holds more than ``full_above`` of the graph's nodes. ``resolve_all`` resolves
    everything (the engine's, on Spark); the affected part, small by design, is resolved here."""
    con = store.con
    blocked_lc = frozenset(b.strip().lower() for b in blocked)
    salt = _salt(store)
    settings = _settings(blocked_lc, max_ids_per_kind, salt)
    build_graph(con, blocked_lc)
    incremental = not full and _incremental(con, settings, full_above)
    with _no_cycle_collection():  # a million records, none in a cycle
        records, sig_of = _identity_records(con, incremental)
    # a full resolution is Python objects (a few GB at a million profiles): meanwhile the store
    # keeps only part of its memory limit, its cached pages given back instead of held beside
    # (the affected part is small: its pages are what the rewrite reads next)
    with nullcontext() if incremental else store.lend_memory():
        with _no_cycle_collection():
            res = (resolve if incremental else resolve_all)(
                records, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=_uncapped(con)
            )
            assigned = _assign(con, res, salt, incremental)
        tables = _tables(res, assigned, sig_of, run_id)
    resolved, retired = len(records), len(assigned.retired)
    # the resolution's Python objects (a few GB at a million profiles) go before the store's
    # rewrite, which needs the engine's memory; _write drops the frames once inserted
    del records, sig_of, res, assigned
    _write(store, tables, blocked_lc, incremental)
    con.execute("INSERT OR REPLACE INTO store_meta VALUES (?, ?)", [_SETTINGS, settings])
    merged = _count(con, "SELECT count(*) FROM merges WHERE accepted")
    return UnifyResult(
        records=_count(con, "SELECT count(*) FROM ug_nodes WHERE NOT starts_with(ref, 'events:')"),
        profiles=store.count("profiles"),
        merged=merged,
        refused=store.count("merges") - merged,
        retired=retired,
        inactive=store.count("inactive_profiles"),
        resolved=resolved,
        full=not incremental,
    )


def _assign(
    con: duckdb.DuckDBPyConnection,
    res: Resolution,
    salt: str,
    incremental: bool,
) -> _Assigned:
    """Stable profile ids for the resolved groups, from the persisted key → profile id map
    (only the keys the resolved part holds: no other group can claim their ids)."""
    groups = res.groups()
    roots = sorted(groups)
    group_keys = [(res.keys[root], res.records[groups[root][0]].ref) for root in roots]
    if incremental:
        previous = dict(
            con.execute(
                """SELECT id_key, profile_id FROM identity_map WHERE id_key IN
                   (SELECT key FROM ug_keys SEMI JOIN ug_affected USING (ref))"""
            ).fetchall()
        )
        likely = [minted_id(salt, min(keys) if keys else anchor) for keys, anchor in group_keys]
        pids, retired = assign_profile_ids(
            group_keys, previous, salt=salt, used=_StoreIds(con, likely)
        )
    else:
        previous = dict(con.execute("SELECT id_key, profile_id FROM identity_map").fetchall())
        used = set(previous.values()) | {
            r[0] for r in con.execute("SELECT profile_id FROM retired_profiles").fetchall()
        }
        pids, retired = assign_profile_ids(group_keys, previous, salt=salt, used=used)
    pid_of_root = dict(zip(roots, pids, strict=True))
    pid_of_ref = {
        res.records[i].ref: pid_of_root[root] for root, idxs in groups.items() for i in idxs
    }
    return _Assigned(group_keys, pids, retired, pid_of_ref)


def _tables(res: Resolution, assigned: _Assigned, sig_of: dict[str, str], run_id: str) -> _Tables:
    """The frames, built column by column (a frame from a million row tuples converts every
    cell on its own)."""
    pid_of_ref = assigned.pid_of_ref
    keys: list[str] = []
    key_pids: list[str] = []
    for (group, _a), pid in zip(assigned.group_keys, assigned.pids, strict=True):
        keys += group
        key_pids += [pid] * len(group)
    id_map = pd.DataFrame({"id_key": keys, "profile_id": key_pids}).drop_duplicates("id_key")
    sig_map = pd.DataFrame(
        {"id_sig": [sig_of[ref] for ref in pid_of_ref], "profile_id": list(pid_of_ref.values())}
    ).drop_duplicates("id_sig")
    via = [m.via.split(":", 1) for m in res.merges]
    merges = pd.DataFrame(
        {
            "profile_id": [pid_of_ref[m.record_b] for m in res.merges],
            "record_a": [m.record_a for m in res.merges],
            "record_b": [m.record_b for m in res.merges],
            "via_kind": [v[0] for v in via],
            "via_value": [v[1] for v in via],
            "accepted": [m.accepted for m in res.merges],
            "note": [m.note for m in res.merges],
        }
    )
    retired = pd.DataFrame(
        {
            "profile_id": list(assigned.retired),
            "merged_into": list(assigned.retired.values()),
            "run_id": [run_id] * len(assigned.retired),
        }
    )
    return _Tables(id_map, sig_map, merges, retired)


# What an incremental unify replaces: the rows of the affected nodes, before and after.
_REPLACE_AFFECTED = (
    """DELETE FROM identity_map WHERE id_key IN (
        SELECT key FROM identity_edges SEMI JOIN ug_affected USING (ref)
        UNION SELECT key FROM ug_keys SEMI JOIN ug_affected USING (ref))""",
    """DELETE FROM id_set_profile WHERE id_sig IN (
        SELECT substr(key, 2) FROM identity_edges SEMI JOIN ug_affected USING (ref)
        WHERE starts_with(key, chr(31))
        UNION SELECT sig FROM ug_nodes SEMI JOIN ug_affected USING (ref))""",
    "DELETE FROM merges WHERE record_b IN (SELECT ref FROM ug_affected)",
    "DELETE FROM identity_edges WHERE ref IN (SELECT ref FROM ug_affected)",
    """INSERT INTO identity_edges SELECT ref, key, digest FROM ug_edges
       SEMI JOIN ug_affected USING (ref)""",
)
_REPLACE_ALL = (
    "DELETE FROM identity_map",
    "DELETE FROM id_set_profile",
    "DELETE FROM merges",
    "DELETE FROM identity_edges",
    "INSERT INTO identity_edges SELECT ref, key, digest FROM ug_edges",
)


def _move_followers(con: duckdb.DuckDBPyConnection, incremental: bool) -> None:
    """Learned destination ids and events follow their profile's new id."""
    con.execute(
        """UPDATE learned_ids SET profile_id = r.merged_into FROM retired_profiles r
           WHERE learned_ids.profile_id = r.profile_id
           AND NOT EXISTS (SELECT 1 FROM learned_ids l2
               WHERE l2.profile_id = r.merged_into AND l2.kind = learned_ids.kind)"""
    )
    if incremental:
        dirty_events(con)
        move_events(con)
        return
    con.execute(
        """UPDATE events SET profile_id = m.profile_id FROM id_set_profile m
           WHERE events.id_sig = m.id_sig AND events.profile_id IS DISTINCT FROM m.profile_id"""
    )


def _write(
    store: DataStore, tables: _Tables, blocked_lc: frozenset[str], incremental: bool
) -> None:
    """Replace the identity rows (all, or the affected part's), move events and learned ids,
    rebuild profiles: one transaction, so a crash leaves the previous unify in place."""
    con = store.con
    frames = {f.name: getattr(tables, f.name) for f in fields(tables)}
    con.execute("BEGIN")
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        if incremental:
            dirty_before_replace(con)
        else:
            con.execute("CREATE OR REPLACE TEMP TABLE uf_dirty (profile_id VARCHAR)")
        for sql in _REPLACE_AFFECTED if incremental else _REPLACE_ALL:
            con.execute(sql)
        con.execute("INSERT INTO identity_map SELECT id_key, profile_id FROM new_id_map")
        con.execute("INSERT INTO id_set_profile SELECT id_sig, profile_id FROM new_sig_map")
        con.execute("INSERT INTO merges SELECT * FROM new_merges")
        con.execute("INSERT OR REPLACE INTO retired_profiles SELECT * FROM new_retired")
        for name in frames:
            con.unregister(name)
        frames.clear()
        tables.clear()
        if incremental:
            dirty_after_replace(con)
        _move_followers(con, incremental)
        rebuild_identities(store, every=not incremental)
        inactive_before(con)
        mark_inactive(con)
        dirty_inactive(con)
        rebuild_profiles(store, blocked_lc, every=not incremental)
        con.execute("DELETE FROM events_replaced")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)
