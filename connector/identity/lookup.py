"""Find a person's profile by what an operator has at hand: an email address, a source record's
id (``crm-123`` or ``shop:crm-123``) or a profile id."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from connector.store.datastore import DataStore, first_row

__all__ = ["find_profile", "profiles_by_keys"]


def find_profile(store: DataStore, who: str) -> str | None:
    """The profile id ``who`` names, or ``None``; a retired id is returned as is (its
    explanation says where it went)."""
    con = store.con
    who = who.strip()
    for table in ("profiles", "retired_profiles"):
        if first_row(con.execute(f"SELECT 1 FROM {table} WHERE profile_id = ?", [who])):
            return who
    if "@" in who:
        row = first_row(
            con.execute(
                "SELECT profile_id FROM identities WHERE kind = 'email' AND lower(value) = ?"
                " ORDER BY profile_id LIMIT 1",
                [who.lower()],
            )
        )
        return str(row[0]) if row else None
    source, _, source_id = who.rpartition(":")
    row = first_row(
        con.execute(
            """SELECT m.profile_id FROM profile_records pr JOIN id_set_profile m USING (id_sig)
               WHERE pr.source_id = ? AND (? = '' OR pr.source = ?)
               ORDER BY pr.source LIMIT 1""",
            [source_id, source, source],
        )
    )
    return str(row[0]) if row else None


def profiles_by_keys(store: DataStore, keys: Iterable[str]) -> dict[str, str]:
    """Identity key (``email:…``, ``segment_user_id:…``) → the profile holding it, for the
    keys the identity graph knows (one set-based query: a stream resolves batches of events)."""
    wanted = pd.DataFrame({"k": sorted(set(keys))}, dtype=str)
    if wanted.empty:
        return {}
    store.con.register("_lookup_keys", wanted)
    try:
        rows = store.con.execute(
            "SELECT m.id_key, m.profile_id FROM identity_map m "
            "JOIN _lookup_keys k ON k.k = m.id_key"
        ).fetchall()
    finally:
        store.con.unregister("_lookup_keys")
    return {str(k): str(p) for k, p in rows}
