"""An incremental profile rebuild replaces exactly the dirty profiles' rows.

``rebuild_profiles`` (``every`` false) updates rows that stay, deletes those whose profile is
gone and adds new ones; a profile outside ``uf_dirty`` is left as it is, even when stale.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from connector.identity.profiles import rebuild_profiles
from connector.store import DataStore


def _record(con: duckdb.DuckDBPyConnection, sid: str, sig: str, first_name: str) -> None:
    con.execute(
        """INSERT INTO profile_records (source, source_id, id_sig, email, first_name, updated_at)
           VALUES ('crm', ?, ?, ?, ?, TIMESTAMP '2026-01-01')""",
        [sid, sig, f"{sid}@example.com", first_name],
    )


def _profile(con: duckdb.DuckDBPyConnection, pid: str, first_name: str) -> None:
    con.execute("INSERT INTO profiles (profile_id, first_name) VALUES (?, ?)", [pid, first_name])


def test_dirty_profiles_are_updated_added_and_removed(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "data.duckdb")
    con = store.con
    _record(con, "1", "s1", "Ann")  # p1: changed name
    _record(con, "2", "s2", "Bo")  # p2: new
    _record(con, "4", "s4", "Dee")  # p4: clean, left stale
    con.execute("INSERT INTO id_set_profile VALUES ('s1', 'p1'), ('s2', 'p2'), ('s4', 'p4')")
    _profile(con, "p1", "Old")
    _profile(con, "p3", "Gone")  # p3: dirty, no longer a profile
    _profile(con, "p4", "Stale")
    con.execute("CREATE TEMP TABLE uf_dirty AS SELECT unnest(['p1', 'p2', 'p3']) AS profile_id")
    rebuild_profiles(store, frozenset(), every=False)
    rows = con.execute(
        "SELECT profile_id, first_name, email, sources FROM profiles ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("p1", "Ann", "1@example.com", "crm"),
        ("p2", "Bo", "2@example.com", "crm"),
        ("p4", "Stale", None, None),
    ]
    store.close()
