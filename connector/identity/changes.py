"""Which profiles a unify must rebuild: ``uf_dirty``, filled set-based as the unify writes.

A profile is rebuilt when anything it is made of changed since the last unify: its part of the
identity graph was resolved again (its old and new ids; a source record changed in any column,
or was deleted, is a changed node: ``connector.identity.graph``), one of its events is new,
moved to another profile or sent again, its identifiers changed (``identities``, including ids
destinations learned), or it became active or inactive. Everything else it is built from is
fixed by the identity settings, whose change makes the unify a full one.
"""

from __future__ import annotations

import duckdb

__all__ = [
    "dirty_after_replace",
    "dirty_before_replace",
    "dirty_events",
    "dirty_inactive",
    "inactive_before",
    "move_events",
]


def dirty_before_replace(con: duckdb.DuckDBPyConnection) -> None:
    """Start ``uf_dirty`` with the ids the affected nodes had."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE uf_dirty AS
           SELECT profile_id FROM id_set_profile WHERE id_sig IN (
               SELECT substr(key, 2) FROM identity_edges SEMI JOIN ug_affected USING (ref)
               WHERE starts_with(key, chr(31)))"""
    )


def dirty_after_replace(con: duckdb.DuckDBPyConnection) -> None:
    """Add the ids the affected nodes have now."""
    con.execute(
        """INSERT INTO uf_dirty SELECT profile_id FROM id_set_profile
           WHERE id_sig IN (SELECT sig FROM ug_nodes SEMI JOIN ug_affected USING (ref))"""
    )


def dirty_events(con: duckdb.DuckDBPyConnection) -> None:
    """Add the profiles that gain or lose an event when events follow ``id_set_profile``
    (new and replaced events have no profile yet), and those that held an event sent again
    (``events_replaced``); call before the events are moved. The moves are kept in
    ``uf_moved`` (event, profile before, profile after) for ``move_events``: one join of the
    events with ``id_set_profile`` serves both."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE uf_moved AS
           SELECT e.event_id, e.profile_id AS before, m.profile_id AS after
           FROM events e JOIN id_set_profile m USING (id_sig)
           WHERE e.profile_id IS DISTINCT FROM m.profile_id"""
    )
    con.execute("INSERT INTO uf_dirty SELECT unnest([before, after]) FROM uf_moved")
    con.execute("INSERT INTO uf_dirty SELECT profile_id FROM events_replaced")


def move_events(con: duckdb.DuckDBPyConnection) -> None:
    """Give the events in ``uf_moved`` (``dirty_events``) their profile's id now."""
    con.execute(
        """UPDATE events SET profile_id = u.after FROM uf_moved u
           WHERE events.event_id = u.event_id"""
    )


def inactive_before(con: duckdb.DuckDBPyConnection) -> None:
    """Keep the inactive set as it was, for ``dirty_inactive`` after ``mark_inactive``."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE uf_inactive_before AS
           SELECT profile_id FROM inactive_profiles"""
    )


def dirty_inactive(con: duckdb.DuckDBPyConnection) -> None:
    """Add the profiles that became active or inactive."""
    con.execute(
        """INSERT INTO uf_dirty SELECT profile_id FROM (
               (SELECT profile_id FROM uf_inactive_before EXCEPT
                SELECT profile_id FROM inactive_profiles)
               UNION ALL
               (SELECT profile_id FROM inactive_profiles EXCEPT
                SELECT profile_id FROM uf_inactive_before))"""
    )
