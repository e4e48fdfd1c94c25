"""The unify stage: resolve identities over everything stored, then rebuild profiles.

Resolution reruns over all identity records each time (it is set-based and cheap next to the
pulls), so late-arriving links merge old profiles; the persisted key → profile id map keeps ids
stable. The profile's fields come from its most recently updated source record; consent per
channel from the statement that prevails by ``connector.schema.consent``: an undated denial
always stands, otherwise the latest dated statement wins and a denial wins a tie, and an undated
grant counts only when nothing else was said. "unknown" is the absence of a statement, so it
never overrides one made elsewhere.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields

import pandas as pd

from connector.identity.ids import assign_profile_ids
from connector.identity.lifecycle import LIVE_RECORDS, mark_inactive, merge_targets
from connector.identity.resolver import IdentityRecord, Resolution, is_blocked, resolve
from connector.schema.consent import rank_sql
from connector.store.datastore import DataStore, first_row, identity_keys

__all__ = ["UnifyResult", "unify"]


@dataclass(frozen=True, slots=True)
class UnifyResult:
    records: int
    profiles: int
    merged: int
    refused: int
    retired: int
    inactive: int = 0


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


def _identity_records(
    store: DataStore,
) -> tuple[list[IdentityRecord], dict[str, str], frozenset[str]]:
    """Identity records, the id_sig each one stands for, and the keys the resolver's cap does
    not count: those of merged-away records (one person's by the source's word) and the
    platform ids our destinations created."""
    rows = store.con.execute(
        """
        SELECT source || ':' || source_id AS ref, id_sig, email, phone, ids FROM profile_records
        UNION ALL
        SELECT 'events:' || id_sig, id_sig, any_value(email), any_value(phone), any_value(ids)
        FROM events GROUP BY id_sig
        """
    ).fetchall()
    past = _superseded_keys(store)
    keys_of: dict[str, list[str]] = {}
    sig_of: dict[str, str] = {}
    for ref, sig, email, phone, ids in rows:
        keys_of[ref] = identity_keys(email, phone, json.loads(ids or "{}")) + past.get(ref, [])
        sig_of[ref] = sig
    aliases: set[str] = set()
    for ref, target in merge_targets(store.con).items():
        if ref in keys_of and target in keys_of:  # merged away: its keys join the survivor's
            moved = keys_of.pop(ref)
            keys_of[target].extend(moved)
            aliases.update(moved)
            del sig_of[ref]
    # ids our destinations created name one of our people each: an echo carrying one joins
    # its person without counting (six merged people copied to Klaviyo are six Klaviyo ids)
    aliases.update(
        str(k)
        for (k,) in store.con.execute("SELECT kind || ':' || value FROM created_ids").fetchall()
    )
    records = [IdentityRecord(ref, tuple(keys)) for ref, keys in keys_of.items()]
    return records, sig_of, frozenset(aliases)


def _superseded_keys(store: DataStore) -> dict[str, list[str]]:
    """Past emails and phones per profile record, where they still point at one person only.

    A past address links the record's person to whatever else was recorded under it (events
    from before the change, another source that has not caught up), so a person who changed
    address and withdrew consent does not leave a consent-less profile behind. It is left out
    when any record holds it today (the address now belongs to someone, who gets what is
    recorded under it, as before) or when several records gave it up (ambiguous).
    """
    rows = store.con.execute(
        """
        WITH current AS (
            SELECT 'email:' || email AS id_key FROM profile_records WHERE email IS NOT NULL
            UNION SELECT 'phone:' || phone FROM profile_records WHERE phone IS NOT NULL
        ),
        single AS (
            SELECT id_key FROM superseded_ids GROUP BY id_key HAVING count(*) = 1
        )
        SELECT s.source || ':' || s.source_id, s.id_key
        FROM superseded_ids s JOIN single USING (id_key)
        WHERE s.id_key NOT IN (SELECT id_key FROM current)
        ORDER BY 1, 2
        """
    ).fetchall()
    out: dict[str, list[str]] = {}
    for ref, key in rows:
        out.setdefault(ref, []).append(key)
    return out


@dataclass(frozen=True, slots=True)
class _Assigned:
    """Profile ids of one resolution: per identity group (with its keys) and per record."""

    group_keys: list[tuple[frozenset[str], str]]
    pids: list[str]
    retired: dict[str, str]
    pid_of_ref: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Tables:
    """The identity tables one unify writes, as frames registered for the transaction."""

    new_id_map: pd.DataFrame
    new_sig_map: pd.DataFrame
    new_merges: pd.DataFrame
    new_retired: pd.DataFrame


def unify(
    store: DataStore, *, blocked: tuple[str, ...], max_ids_per_kind: int, run_id: str
) -> UnifyResult:
    records, sig_of, aliases = _identity_records(store)
    res = resolve(records, blocked=blocked, max_ids_per_kind=max_ids_per_kind, uncapped=aliases)
    blocked_lc = frozenset(b.strip().lower() for b in blocked)
    assigned = _assign(store, res, blocked_lc)
    _write(store, _tables(res, assigned, sig_of, run_id), blocked_lc)
    profile_recs = sum(1 for r in records if not r.ref.startswith("events:"))
    accepted = [m for m in res.merges if m.accepted]
    inactive = store.count("inactive_profiles")
    return UnifyResult(
        records=profile_recs,
        profiles=len(set(assigned.pids)) - inactive,
        merged=len(accepted),
        refused=len(res.merges) - len(accepted),
        retired=len(assigned.retired),
        inactive=inactive,
    )


def _assign(store: DataStore, res: Resolution, blocked_lc: frozenset[str]) -> _Assigned:
    """Stable profile ids for the resolved groups, from the persisted key → profile id map."""
    con = store.con
    groups = res.groups()
    roots = sorted(groups)
    group_keys: list[tuple[frozenset[str], str]] = []
    for root in roots:
        keys = {
            k for i in groups[root] for k in res.records[i].keys if not is_blocked(k, blocked_lc)
        }
        group_keys.append((frozenset(keys), res.records[groups[root][0]].ref))
    previous = dict(con.execute("SELECT id_key, profile_id FROM identity_map").fetchall())
    used = set(previous.values()) | {
        r[0] for r in con.execute("SELECT profile_id FROM retired_profiles").fetchall()
    }
    pids, retired = assign_profile_ids(group_keys, previous, salt=_salt(store), used=used)
    pid_of_root = dict(zip(roots, pids, strict=True))
    pid_of_ref = {
        res.records[i].ref: pid_of_root[root] for root, idxs in groups.items() for i in idxs
    }
    return _Assigned(group_keys, pids, retired, pid_of_ref)


def _tables(res: Resolution, assigned: _Assigned, sig_of: dict[str, str], run_id: str) -> _Tables:
    pid_of_ref = assigned.pid_of_ref
    id_map = pd.DataFrame(
        [
            (k, pid)
            for (keys, _a), pid in zip(assigned.group_keys, assigned.pids, strict=True)
            for k in keys
        ],
        columns=["id_key", "profile_id"],
    ).drop_duplicates("id_key")
    sig_map = pd.DataFrame(
        [(sig_of[ref], pid) for ref, pid in pid_of_ref.items()], columns=["id_sig", "profile_id"]
    ).drop_duplicates("id_sig")
    merges = pd.DataFrame(
        [
            (
                pid_of_ref[m.record_b],
                m.record_a,
                m.record_b,
                *m.via.split(":", 1),
                m.accepted,
                m.note,
            )
            for m in res.merges
        ],
        columns=["profile_id", "record_a", "record_b", "via_kind", "via_value", "accepted", "note"],
    )
    retired = pd.DataFrame(
        [(old, new, run_id) for old, new in assigned.retired.items()],
        columns=["profile_id", "merged_into", "run_id"],
    )
    return _Tables(id_map, sig_map, merges, retired)


def _write(store: DataStore, tables: _Tables, blocked_lc: frozenset[str]) -> None:
    """Replace the identity tables, move events and learned ids, rebuild profiles: one
    transaction, so a crash leaves the previous unify in place."""
    con = store.con
    frames = {f.name: getattr(tables, f.name) for f in fields(tables)}
    con.execute("BEGIN")
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        con.execute("DELETE FROM identity_map")
        con.execute("INSERT INTO identity_map SELECT id_key, profile_id FROM new_id_map")
        con.execute("DELETE FROM id_set_profile")
        con.execute("INSERT INTO id_set_profile SELECT id_sig, profile_id FROM new_sig_map")
        con.execute("DELETE FROM merges")
        con.execute("INSERT INTO merges SELECT * FROM new_merges")
        con.execute("INSERT OR REPLACE INTO retired_profiles SELECT * FROM new_retired")
        # learned destination ids follow their profile when it merges into another
        con.execute(
            """UPDATE learned_ids SET profile_id = r.merged_into FROM retired_profiles r
               WHERE learned_ids.profile_id = r.profile_id
               AND NOT EXISTS (SELECT 1 FROM learned_ids l2
                   WHERE l2.profile_id = r.merged_into AND l2.kind = learned_ids.kind)"""
        )
        con.execute(
            """UPDATE events SET profile_id = m.profile_id FROM id_set_profile m
               WHERE events.id_sig = m.id_sig AND events.profile_id IS DISTINCT FROM m.profile_id"""
        )
        _rebuild_identities(store)
        mark_inactive(con)
        _rebuild_profiles(store, blocked_lc)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        for name in frames:
            con.unregister(name)


def _rebuild_identities(store: DataStore) -> None:
    store.con.execute("DELETE FROM identities")
    store.con.execute(
        """INSERT INTO identities
           SELECT profile_id, split_part(id_key, ':', 1), substr(id_key, strpos(id_key, ':') + 1)
           FROM identity_map
           UNION
           SELECT profile_id, kind, value FROM learned_ids"""
    )


def _prevailing(channel: str) -> str:
    """The aggregate picking a profile's consent for one channel (the schema's precedence)."""
    s, at = f"consent_{channel}", f"consent_{channel}_at"
    return f"arg_max({s}, {rank_sql(s, at)}) FILTER (WHERE {s} IN ('granted', 'denied')) AS {s}"


def _rebuild_profiles(store: DataStore, blocked: frozenset[str]) -> None:
    con = store.con
    con.execute("CREATE OR REPLACE TEMP TABLE blocked_values (value VARCHAR)")
    if blocked:
        con.executemany("INSERT INTO blocked_values VALUES (?)", [[b] for b in sorted(blocked)])
    con.execute("DELETE FROM profiles")
    con.execute(
        f"""
        INSERT INTO profiles
        WITH r AS (
            SELECT m.profile_id, pr.*, coalesce(pr.updated_at, TIMESTAMP '1970-01-01') AS ord
            FROM {LIVE_RECORDS} pr JOIN id_set_profile m USING (id_sig)
        ),
        agg AS (
            SELECT profile_id,
              arg_max(email, ord) FILTER (WHERE email IS NOT NULL
                  AND email NOT IN (SELECT value FROM blocked_values)) AS email,
              arg_max(phone, ord) FILTER (WHERE phone IS NOT NULL
                  AND phone NOT IN (SELECT value FROM blocked_values)) AS phone,
              arg_max(first_name, ord) FILTER (WHERE first_name IS NOT NULL) AS first_name,
              arg_max(last_name, ord) FILTER (WHERE last_name IS NOT NULL) AS last_name,
              arg_max(city, ord) FILTER (WHERE city IS NOT NULL) AS city,
              arg_max(postal_code, ord) FILTER (WHERE postal_code IS NOT NULL) AS postal_code,
              arg_max(country, ord) FILTER (WHERE country IS NOT NULL) AS country,
              min(created_at) AS created_at,
              max(updated_at) AS updated_at,
              {_prevailing("email")},
              {_prevailing("sms")},
              {_prevailing("ads")},
              string_agg(DISTINCT source, ',' ORDER BY source) AS sources,
              arg_max(traits, ord) AS traits
            FROM r GROUP BY profile_id
        ),
        ident AS (
            SELECT profile_id,
              min(value) FILTER (WHERE kind = 'email') AS email,
              min(value) FILTER (WHERE kind = 'phone') AS phone
            FROM identities GROUP BY profile_id
        ),
        ev AS (
            SELECT profile_id, min(occurred_at) AS first_event, max(occurred_at) AS last_event,
                   string_agg(DISTINCT source, ',' ORDER BY source) AS sources
            FROM events WHERE profile_id IS NOT NULL GROUP BY profile_id
        ),
        ids AS (SELECT DISTINCT profile_id FROM id_set_profile
                WHERE profile_id NOT IN (SELECT profile_id FROM inactive_profiles))
        SELECT ids.profile_id,
          coalesce(agg.email, ident.email), coalesce(agg.phone, ident.phone),
          agg.first_name, agg.last_name, agg.city, agg.postal_code, agg.country,
          coalesce(agg.created_at, ev.first_event),
          greatest(agg.updated_at, ev.last_event),
          coalesce(agg.consent_email, 'unknown'), coalesce(agg.consent_sms, 'unknown'),
          coalesce(agg.consent_ads, 'unknown'),
          coalesce(agg.sources, ev.sources), coalesce(agg.traits, '{{}}')
        FROM ids
        LEFT JOIN agg USING (profile_id)
        LEFT JOIN ident USING (profile_id)
        LEFT JOIN ev USING (profile_id)
        """
    )
