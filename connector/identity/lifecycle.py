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

from connector.store.echoes import echo_records

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
    # only a profile with a tombstoned record can be inactive: the records of those alone are
    # judged (the whole store's, a million records and their ids unnested, took a second)
    con.execute(
        """CREATE OR REPLACE TEMP TABLE uf_tombstoned_records AS
           SELECT p.*, m.profile_id AS uf_profile_id
           FROM profile_records p JOIN id_set_profile m USING (id_sig)
           WHERE m.profile_id IN (
               SELECT m2.profile_id FROM tombstones t
               JOIN profile_records p2 ON t.source = p2.source AND t.source_id = p2.source_id
               JOIN id_set_profile m2 ON m2.id_sig = p2.id_sig)"""
    )
    con.execute(
        f"""INSERT INTO inactive_profiles
           SELECT p.uf_profile_id FROM uf_tombstoned_records p
           LEFT JOIN tombstones t ON t.source = p.source AND t.source_id = p.source_id
           LEFT JOIN {echo_records("uf_tombstoned_records")} e
               ON e.source = p.source AND e.source_id = p.source_id
           GROUP BY p.uf_profile_id
           HAVING bool_and(t.run_id IS NOT NULL OR e.source IS NOT NULL)
              AND bool_or(t.run_id IS NOT NULL)
           UNION SELECT profile_id FROM erasing_profiles"""
    )
