"""``mark_inactive`` judges only the profiles with a tombstoned record, and judges all of their
records: one live record keeps a person active, echoes do not, and no tombstone means active."""

from __future__ import annotations

from pathlib import Path

import duckdb

from connector.identity.lifecycle import mark_inactive
from connector.store import DataStore


def _record(con: duckdb.DuckDBPyConnection, sid: str, pid: str, ids: str = "{}") -> None:
    con.execute(
        "INSERT INTO profile_records (source, source_id, id_sig, ids) VALUES ('crm', ?, ?, ?)",
        [sid, f"sig{sid}", ids],
    )
    con.execute("INSERT INTO id_set_profile VALUES (?, ?)", [f"sig{sid}", pid])


def _tombstone(con: duckdb.DuckDBPyConnection, sid: str) -> None:
    con.execute("INSERT INTO tombstones (source, source_id, run_id) VALUES ('crm', ?, 'r1')", [sid])


def test_inactive_needs_a_tombstone_and_no_live_record(tmp_path: Path) -> None:
    store = DataStore(tmp_path / "data.duckdb")
    con = store.con
    con.execute("INSERT INTO created_ids (kind, value) VALUES ('klaviyo_id', 'k9')")
    echo = '{"klaviyo_id": "k9"}'
    _record(con, "1", "gone")  # its only record deleted
    _tombstone(con, "1")
    _record(con, "2", "live")  # one record deleted, one live
    _record(con, "3", "live")
    _tombstone(con, "2")
    _record(con, "4", "echoed")  # one record deleted, the other our echo
    _record(con, "5", "echoed", echo)
    _tombstone(con, "4")
    _record(con, "6", "only_echo", echo)  # an echo, nothing deleted
    _record(con, "7", "plain")
    con.execute("INSERT INTO erasing_profiles (profile_id, request_id) VALUES ('erased', 'q1')")
    mark_inactive(con)
    rows = con.execute("SELECT profile_id FROM inactive_profiles ORDER BY 1").fetchall()
    assert rows == [("echoed",), ("erased",), ("gone",)]
    store.close()
