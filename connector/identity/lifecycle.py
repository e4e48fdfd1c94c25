"""What tombstones mean to unify (the contract in ``connector.schema.records``).

A deleted record stays in the identity graph, so the person's events, learned destination ids
and ledger entries stay attached to one profile id and destinations can be told to remove it;
it gives the profile no fields. A profile whose every source record is a tombstone is
inactive. A record merged into another record of its source lends that record its identifiers.
"""

from __future__ import annotations

import duckdb

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
    """Profiles with source records, every one a tombstone (within unify's transaction)."""
    con.execute("DELETE FROM inactive_profiles")
    con.execute(
        """INSERT INTO inactive_profiles
           SELECT m.profile_id FROM profile_records p JOIN id_set_profile m USING (id_sig)
           LEFT JOIN tombstones t ON t.source = p.source AND t.source_id = p.source_id
           GROUP BY m.profile_id HAVING bool_and(t.run_id IS NOT NULL)"""
    )
