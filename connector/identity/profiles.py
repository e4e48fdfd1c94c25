"""Profiles from the resolved identities: a profile's fields, identifiers and consent.

Set-based (one statement per table), over every profile or only the ones a run touched
(``uf_dirty``, filled by ``connector.identity.changes``). A profile's fields come from its most
recently updated live source record; consent per channel from the statement that prevails by
``connector.schema.consent``: an undated denial always stands, otherwise the latest dated
statement wins and a denial wins a tie, and an undated grant counts only when nothing else was
said. "unknown" is the absence of a statement, so it never overrides one made elsewhere.
"""

from __future__ import annotations

from connector.identity.lifecycle import LIVE_RECORDS
from connector.schema.consent import rank_sql
from connector.store.datastore import DataStore

__all__ = ["rebuild_identities", "rebuild_profiles"]


def rebuild_identities(store: DataStore, *, every: bool) -> None:
    """Bring ``identities`` up to date: all of it, or (``every`` false) only the profiles whose
    identifiers changed, which are added to ``uf_dirty``."""
    con = store.con
    select = """SELECT profile_id, split_part(id_key, ':', 1) AS kind,
                       substr(id_key, strpos(id_key, ':') + 1) AS value
                FROM identity_map
                UNION
                SELECT profile_id, kind, value FROM learned_ids"""
    if every:
        con.execute("DELETE FROM identities")
        con.execute(f"INSERT INTO identities {select}")
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE uf_identities AS {select}")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE uf_identity_changed AS SELECT DISTINCT profile_id FROM (
               (SELECT profile_id, kind, value FROM identities EXCEPT
                SELECT profile_id, kind, value FROM uf_identities)
               UNION ALL
               (SELECT profile_id, kind, value FROM uf_identities EXCEPT
                SELECT profile_id, kind, value FROM identities))"""
    )
    con.execute("DELETE FROM identities WHERE profile_id IN (SELECT * FROM uf_identity_changed)")
    con.execute(
        """INSERT INTO identities SELECT profile_id, kind, value FROM uf_identities
           WHERE profile_id IN (SELECT * FROM uf_identity_changed)"""
    )
    con.execute("INSERT INTO uf_dirty SELECT profile_id FROM uf_identity_changed")


def _prevailing(channel: str) -> str:
    """The aggregate picking a profile's consent for one channel (the schema's precedence)."""
    s, at = f"consent_{channel}", f"consent_{channel}_at"
    return f"arg_max({s}, {rank_sql(s, at)}) FILTER (WHERE {s} IN ('granted', 'denied')) AS {s}"


def rebuild_profiles(store: DataStore, blocked: frozenset[str], *, every: bool) -> None:
    """Rebuild every profile, or (``every`` false) only those in ``uf_dirty``."""
    con = store.con
    only = "" if every else "AND profile_id IN (SELECT profile_id FROM uf_dirty)"
    con.execute("CREATE OR REPLACE TEMP TABLE blocked_values (value VARCHAR)")
    if blocked:
        con.executemany("INSERT INTO blocked_values VALUES (?)", [[b] for b in sorted(blocked)])
    con.execute(f"DELETE FROM profiles WHERE true {only}")
    con.execute(
        f"""
        INSERT INTO profiles
        WITH r AS (
            -- the latest record wins; of records updated at one moment (or never dated), the
            -- greatest (source, source_id): arg_max alone picked any of them, so a merged
            -- profile's name could differ between two runs on the same store
            SELECT m.profile_id, pr.*,
                   {{'at': coalesce(pr.updated_at, TIMESTAMP '1970-01-01'),
                    'source': pr.source, 'source_id': pr.source_id}} AS ord
            FROM {LIVE_RECORDS} pr JOIN id_set_profile m USING (id_sig) WHERE true {only}
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
            FROM identities WHERE true {only} GROUP BY profile_id
        ),
        ev AS (
            SELECT profile_id, min(occurred_at) AS first_event, max(occurred_at) AS last_event,
                   string_agg(DISTINCT source, ',' ORDER BY source) AS sources
            FROM events WHERE profile_id IS NOT NULL {only} GROUP BY profile_id
        ),
        ids AS (SELECT DISTINCT profile_id FROM id_set_profile
                WHERE profile_id NOT IN (SELECT profile_id FROM inactive_profiles) {only})
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
