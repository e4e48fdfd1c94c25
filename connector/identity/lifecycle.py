"""What tombstones mean to unify (the contract in ``connector.schema.records``).

A deleted record stays in the identity graph, so the person's events, learned destination ids
and ledger entries stay attached to one profile id and destinations can be told to remove it;
it gives the profile no fields. A profile whose every source record is a tombstone is
inactive. A record merged into another record of its source lends that record its identifiers.

An echo (a record one of our destinations created, read back by a source:
``connector.store.echoes``) does not keep a person active either: a profile whose source
records are all tombstones or echoes, at least one a tombstone, is inactive. The echo still
gives the profile its fields while the person is active. Nothing the person does on the echo
(an edit, new events) revives them: they were deleted where they came from, so they stop being
activated until a record that is not our echo is live again (restored upstream, or a new record
at any source).
"""

from __future__ import annotations

import duckdb

from connector.store.echoes import ECHO_RECORDS

__all__ = ["LIVE_RECORDS", "mark_inactive", "merge_targets"]

# profile_records that are not tombstones (the rows a profile's fields come from)
LIVE_RECORDS = """(SELECT * FROM profile_records pr WHERE NOT EXISTS (
    SELECT 1 FROM tombstones t WHERE t.source = pr.source AND t.source_id = pr.source_id))"""


def merge_targets(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Merged-away record ref → the ref it finally merged into (chains followed, cycles dropped)."""
    merged = dict(
        con.execute(
            """SELECT source || ':' || source_id, source || ':' || merged_into
               FROM tombstones WHERE merged_into IS NOT NULL ORDER BY 1"""
        ).fetchall()
    )
    out: dict[str, str] = {}
    for ref, into in merged.items():
        seen, cur = {ref}, into
        while cur in merged and cur not in seen:
            seen.add(cur)
            cur = merged[cur]
        if cur not in merged:
            out[ref] = cur
    return out


def mark_inactive(con: duckdb.DuckDBPyConnection) -> None:
    """Profiles whose source records are all tombstones or echoes, at least one a tombstone,
    and profiles being erased (within unify's transaction)."""
    con.execute("DELETE FROM inactive_profiles")
    con.execute(
        f"""INSERT INTO inactive_profiles
           SELECT m.profile_id FROM profile_records p JOIN id_set_profile m USING (id_sig)
           LEFT JOIN tombstones t ON t.source = p.source AND t.source_id = p.source_id
           LEFT JOIN {ECHO_RECORDS} e ON e.source = p.source AND e.source_id = p.source_id
           GROUP BY m.profile_id
           HAVING bool_and(t.run_id IS NOT NULL OR e.source IS NOT NULL)
              AND bool_or(t.run_id IS NOT NULL)
           UNION SELECT profile_id FROM erasing_profiles"""
    )
