"""The identity graph as tables, and the part of it that a run's changes touch.

Nodes are profile records and the distinct identifier sets seen on events; a node's keys are its
identifiers (``email:...``, ``phone:...``, ``<kind>:<id>``), the past e-mails and phones that
still point at it alone (``superseded_ids``), and the keys of the records merged into it. They
are built here in SQL as temp tables (``ug_nodes``: ref and id signature; ``ug_keys``: every
key; ``ug_edges``: the keys that can join nodes, plus the node's id signature, which carries,
for a profile record, a digest of the record and its tombstone).

``identity_edges`` keeps the edges of the graph the last unify resolved. A node whose edges
differ now (new, changed in any column, deleted, merged away, removed) is a seed; the
affected part of the graph is every node connected to a seed through the old or the new edges
(``ug_affected``). It is a union of whole connected components of both graphs: a component
with no seed has the same edges as before, so everything outside the affected part resolves
exactly as it did, and unify re-resolves only the affected part. Edges are a superset of what
the resolver joins on (a key is left out only when it is certainly blocked), so components
here are unions of the resolver's, which is all the argument needs.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from connector.identity.lifecycle import merge_targets
from connector.store.datastore import first_row
from connector.store.echoes import echo_records

__all__ = ["affected_nodes", "build_graph", "forget_resolved_graph"]

# A key whose value is blocked for certain, by the rule of ``resolver.is_blocked``; only ASCII
# values are judged (Python and SQL agree on their case and digits: strlen counts bytes, length
# characters), so a non-ASCII value counts as joinable here, which can only widen a component.
# ``d`` (the value's digits) is computed only for phones with seven digits or more: the digit
# rule applies to every kind, but junk ids of one repeated digit are rare enough to leave in.
_BLOCKED_KEY = """(strlen(v) = length(v) AND (
    lower(trim(v)) IN (SELECT value FROM blocked_values)
    OR (d IS NOT NULL
        AND (d IN (SELECT value FROM blocked_values) OR replace(d, left(d, 1), '') = ''))))"""

# A past e-mail or phone still joins the record that gave it up while no other record holds
# it today and no other gave it up. A record that is our own copy of the person (an echo: a
# Klaviyo profile our import created for a HubSpot contact) counts for neither: an address
# changed at HubSpot would split the person from their Klaviyo profile, which holds the old
# address until we move it, and then from their past orders, once that profile gave it up too.
_SUPERSEDED = f"""
    WITH gave AS (
        SELECT s.source, s.source_id, s.id_key, p.ids
        FROM superseded_ids s LEFT JOIN profile_records p USING (source, source_id)
    ),
    single AS (
        SELECT id_key FROM gave g WHERE NOT EXISTS (
            SELECT 1 FROM {echo_records("gave")} e
            WHERE e.source = g.source AND e.source_id = g.source_id)
        GROUP BY id_key HAVING count(*) = 1
    ),
    held AS (
        SELECT 'email:' || email AS id_key, source, source_id, ids FROM profile_records
        WHERE email IS NOT NULL AND 'email:' || email IN (SELECT id_key FROM single)
        UNION ALL SELECT 'phone:' || phone, source, source_id, ids FROM profile_records
        WHERE phone IS NOT NULL AND 'phone:' || phone IN (SELECT id_key FROM single)
    ),
    current AS (
        SELECT id_key FROM held h WHERE NOT EXISTS (
            SELECT 1 FROM {echo_records("held")} e
            WHERE e.source = h.source AND e.source_id = h.source_id)
    )
    SELECT s.source || ':' || s.source_id AS ref, s.id_key AS key
    FROM superseded_ids s JOIN single USING (id_key)
    WHERE s.id_key NOT IN (SELECT id_key FROM current)"""


def build_graph(con: duckdb.DuckDBPyConnection, blocked: frozenset[str]) -> None:
    """Create the temp tables ``ug_nodes``, ``ug_keys`` and ``ug_edges`` of the current graph.

    A past e-mail or phone joins a record only while no record holds it today and one record
    alone gave it up; a record merged into another one of its source lends it its keys and
    stops being a node (``connector.identity.lifecycle``).
    """
    con.execute("CREATE OR REPLACE TEMP TABLE blocked_values (value VARCHAR)")
    if blocked:
        con.execute("INSERT INTO blocked_values SELECT unnest(?)", [sorted(blocked)])
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ug_src AS
           SELECT p.source || ':' || p.source_id AS ref, p.id_sig AS sig, p.email, p.phone, p.ids,
                  hash(p, t.deleted_at, t.merged_into, t.source IS NOT NULL) AS digest
           FROM profile_records p LEFT JOIN tombstones t USING (source, source_id)
           UNION ALL
           SELECT 'events:' || id_sig, id_sig, any_value(email), any_value(phone), any_value(ids),
                  NULL
           FROM events GROUP BY id_sig"""
    )
    targets = pd.DataFrame(list(merge_targets(con).items()), columns=["ref", "target"])
    con.register("ug_targets", targets)
    try:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ug_merged AS
               SELECT ref, target FROM ug_targets
               WHERE ref IN (SELECT ref FROM ug_src) AND target IN (SELECT ref FROM ug_src)"""
        )
    finally:
        con.unregister("ug_targets")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ug_nodes AS
           SELECT ref, sig, digest FROM ug_src WHERE ref NOT IN (SELECT ref FROM ug_merged)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ug_keys AS
            WITH own AS (
                SELECT ref, 'email:' || email AS key FROM ug_src WHERE email <> ''
                UNION ALL SELECT ref, 'phone:' || phone FROM ug_src WHERE phone <> ''
                UNION ALL SELECT ref, e.key || ':' || e.value FROM ug_src,
                    unnest(map_entries(json_transform(ids, '"MAP(VARCHAR, VARCHAR)"'))) AS u(e)
                UNION ALL SELECT ref, key FROM ({_SUPERSEDED})
            )
            SELECT DISTINCT coalesce(m.target, o.ref) AS ref, o.key
            FROM own o SEMI JOIN ug_src USING (ref) LEFT JOIN ug_merged m USING (ref)
            WHERE o.key IS NOT NULL"""
    )
    # keys the resolver's cap does not count: a merged-away record's own keys (one person's by
    # its source's word) and the platform ids our destinations created (each names one of our
    # people); a change here changes the edges of the records that carry them
    con.execute(
        """CREATE OR REPLACE TEMP TABLE ug_uncapped AS
           SELECT DISTINCT key FROM ug_keys WHERE ref IN (SELECT target FROM ug_merged)
               AND key IN (SELECT 'email:' || email FROM ug_src
                           WHERE email <> '' AND ref IN (SELECT ref FROM ug_merged)
                           UNION ALL SELECT 'phone:' || phone FROM ug_src
                           WHERE phone <> '' AND ref IN (SELECT ref FROM ug_merged)
                           UNION ALL SELECT e.key || ':' || e.value FROM ug_src,
                               unnest(map_entries(json_transform(ids, '"MAP(VARCHAR, VARCHAR)"')))
                               AS u(e)
                           WHERE ref IN (SELECT ref FROM ug_merged))
           UNION SELECT kind || ':' || value FROM created_ids"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ug_edges AS
            SELECT ref, key, NULL::UBIGINT AS digest FROM (
                SELECT ref, key, v, CASE WHEN starts_with(key, 'phone:')
                    AND length(v) - length(translate(v, '0123456789', '')) >= 7
                    THEN regexp_replace(v, '[^0-9]', '', 'g') END AS d
                FROM (SELECT ref, key, substr(key, strpos(key, ':') + 1) AS v FROM ug_keys))
            WHERE NOT {_BLOCKED_KEY}
            UNION ALL SELECT ref, chr(31) || sig, digest FROM ug_nodes"""
    )


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = first_row(con.execute(sql))
    return int(row[0]) if row else 0


# A node's edges in one row: how many, and a digest of them (an order-free 64-bit hash, as the
# record digest is; a node's (key, digest) pairs are distinct). Comparing these per node costs
# a fifth of comparing every edge (EXCEPT both ways) at 200k profiles.
_NODE_EDGES = "SELECT ref, bit_xor(hash(key, digest)) AS h, count(*) AS n FROM {} GROUP BY ref"


def affected_nodes(con: duckdb.DuckDBPyConnection, limit: int) -> int | None:
    """Fill ``ug_affected`` with the refs to re-resolve; ``None`` once they exceed ``limit``
    (a full recompute is then cheaper). Old refs (gone now) are included: what they left in
    the identity tables is replaced."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE ug_affected AS
            WITH now AS ({_NODE_EDGES.format("ug_edges")}),
            before AS ({_NODE_EDGES.format("identity_edges")})
            SELECT ref FROM now FULL JOIN before USING (ref)
            WHERE now.h IS DISTINCT FROM before.h OR now.n IS DISTINCT FROM before.n"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE ug_frontier AS SELECT ref FROM ug_affected")
    con.execute("CREATE OR REPLACE TEMP TABLE ug_seen_keys (key VARCHAR)")
    total = _count(con, "SELECT count(*) FROM ug_affected")
    while total and total <= limit:
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ug_new_keys AS SELECT DISTINCT key FROM (
                   SELECT key FROM ug_edges WHERE ref IN (SELECT ref FROM ug_frontier)
                   UNION ALL
                   SELECT key FROM identity_edges WHERE ref IN (SELECT ref FROM ug_frontier))
               WHERE key NOT IN (SELECT key FROM ug_seen_keys)"""
        )
        con.execute("INSERT INTO ug_seen_keys SELECT key FROM ug_new_keys")
        con.execute(
            """CREATE OR REPLACE TEMP TABLE ug_frontier AS SELECT DISTINCT ref FROM (
                   SELECT ref FROM ug_edges WHERE key IN (SELECT key FROM ug_new_keys)
                   UNION ALL
                   SELECT ref FROM identity_edges WHERE key IN (SELECT key FROM ug_new_keys))
               WHERE ref NOT IN (SELECT ref FROM ug_affected)"""
        )
        grown = _count(con, "SELECT count(*) FROM ug_frontier")
        if not grown:
            break
        con.execute("INSERT INTO ug_affected SELECT ref FROM ug_frontier")
        total += grown
    return total if total <= limit else None


def forget_resolved_graph(con: duckdb.DuckDBPyConnection) -> None:
    """Make the next unify a full recompute (after an erasure, a reset, a settings change)."""
    con.execute("DELETE FROM identity_edges")
