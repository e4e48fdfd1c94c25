"""Find a person's profile by what an operator has at hand: an email address, a source record's
id (``crm-123`` or ``shop:crm-123``) or a profile id."""

from __future__ import annotations

from connector.store.datastore import DataStore, first_row

__all__ = ["find_profile"]


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
