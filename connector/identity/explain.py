"""Why a profile is what it is: its source records, identifiers and the merges that joined them.

Identifiers are masked unless the caller asks to reveal them: the output is for a person at a
terminal, and terminals end up in screenshots and tickets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.redaction import mask_email, mask_phone
from connector.store.datastore import DataStore, first_row

__all__ = ["Explanation", "explain_profile", "mask"]


def mask(kind: str, value: str) -> str:
    if kind == "email" and "@" in value:
        return mask_email(value)
    if kind == "phone":
        return mask_phone(value)
    return value


@dataclass(slots=True)
class Explanation:
    profile_id: str
    merged_into: str | None = None
    identities: list[tuple[str, str]] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    merges: list[tuple[str, str, str, str, bool, str]] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def explain_profile(
    store: DataStore, profile_id: str, *, reveal: bool = False
) -> Explanation | None:
    con = store.con
    row = first_row(
        con.execute("SELECT merged_into FROM retired_profiles WHERE profile_id = ?", [profile_id])
    )
    if row:
        target = explain_profile(store, str(row[0]), reveal=reveal)
        out = Explanation(profile_id, merged_into=str(row[0]))
        if target is not None:
            out.identities, out.records, out.merges = (
                target.identities,
                target.records,
                target.merges,
            )
        return out
    if not con.execute("SELECT 1 FROM profiles WHERE profile_id = ?", [profile_id]).fetchall():
        return None

    def shown(kind: str, value: str) -> str:
        return value if reveal else mask(kind, value)

    out = Explanation(profile_id)
    out.identities = [
        (str(k), shown(str(k), str(v)))
        for k, v in con.execute(
            "SELECT kind, value FROM identities WHERE profile_id = ? ORDER BY kind, value",
            [profile_id],
        ).fetchall()
    ]
    out.records = [
        str(r[0])
        for r in con.execute(
            """SELECT pr.source || ':' || pr.source_id FROM profile_records pr
               JOIN id_set_profile m USING (id_sig) WHERE m.profile_id = ? ORDER BY 1""",
            [profile_id],
        ).fetchall()
    ]
    n_events = first_row(
        con.execute("SELECT count(*) FROM events WHERE profile_id = ?", [profile_id])
    )
    if n_events and n_events[0]:
        out.records.append(f"{n_events[0]} events")
    out.merges = [
        (str(a), str(b), str(k), shown(str(k), str(v)), bool(ok), str(note or ""))
        for a, b, k, v, ok, note in con.execute(
            """SELECT record_a, record_b, via_kind, via_value, accepted, note FROM merges
               WHERE profile_id = ? ORDER BY accepted DESC, record_a, record_b""",
            [profile_id],
        ).fetchall()
    ]
    out.retired = [
        str(r[0])
        for r in con.execute(
            "SELECT profile_id FROM retired_profiles WHERE merged_into = ? ORDER BY 1", [profile_id]
        ).fetchall()
    ]
    return out
