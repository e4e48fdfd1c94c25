"""Erasing people from the data store: every row that names them, in one transaction.

Called once every destination has removed them (``connector.privacy.erase``), which then
compacts the file (``DataStore.compact``) so deleted values leave its free blocks. Rows are found
through the identity graph: the profile ids, the identity signatures mapped to them (source
records and events) and the source records behind those. A table the model stage writes
(features, scores, memberships, model_score_cache, model_feature_cache) may not exist yet in a
new store.
"""

from __future__ import annotations

from collections.abc import Sequence

from connector.store.datastore import DataStore

__all__ = ["purge_profiles"]

_BY_PROFILE = (
    "events",
    "events_replaced",
    "identity_map",
    "learned_ids",
    "identities",
    "merges",
    "profiles",
    "inactive_profiles",
    "activations",
    "memberships",
    "erasing_profiles",
)
# model_score_cache: each profile's classifier inputs (`connector.modelling.score_cache`);
# model_feature_cache: its feature row and fingerprint (`connector.modelling.feature_cache`)
_MODEL_TABLES = ("features", "scores", "model_score_cache", "model_feature_cache")


def purge_profiles(store: DataStore, profile_ids: Sequence[str]) -> None:
    if not profile_ids:
        return
    con = store.con
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    con.execute("BEGIN")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE purge_ids AS SELECT unnest(?) AS profile_id",
            [list(profile_ids)],
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE purge_sigs AS
               SELECT id_sig FROM id_set_profile WHERE profile_id IN (SELECT * FROM purge_ids)"""
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE purge_records AS
               SELECT source, source_id FROM profile_records
               WHERE id_sig IN (SELECT * FROM purge_sigs)"""
        )
        con.execute(
            """DELETE FROM created_ids WHERE (kind, value) IN (SELECT (kind, value)
               FROM identities WHERE profile_id IN (SELECT * FROM purge_ids))"""
        )
        for table in ("superseded_ids", "tombstones", "profile_records"):
            con.execute(
                f"""DELETE FROM {table} WHERE (source, source_id) IN
                    (SELECT (source, source_id) FROM purge_records)"""
            )
        con.execute("DELETE FROM events WHERE id_sig IN (SELECT * FROM purge_sigs)")
        con.execute("DELETE FROM id_set_profile WHERE id_sig IN (SELECT * FROM purge_sigs)")
        con.execute(
            """DELETE FROM retired_profiles WHERE profile_id IN (SELECT * FROM purge_ids)
               OR merged_into IN (SELECT * FROM purge_ids)"""
        )
        for table in (*_BY_PROFILE, *(t for t in _MODEL_TABLES if t in tables)):
            con.execute(f"DELETE FROM {table} WHERE profile_id IN (SELECT * FROM purge_ids)")
        # the resolved graph names them too: dropped whole, so the next unify resolves anew
        con.execute("DELETE FROM identity_edges")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
