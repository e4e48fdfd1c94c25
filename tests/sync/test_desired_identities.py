"""Each person's identifiers in the desired state: ids by kind (the first value of each), every
other e-mail, in order; read from the store's identities as sorted rows cut per profile."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from connector.plugin.changes import SegmentRef, TraitSpec
from connector.store.datastore import DataStore
from connector.sync.desired import build_desired

VIP = SegmentRef("vip", "VIP")


def _store(path: Path) -> DataStore:
    data = DataStore(path)
    data.con.execute(
        """INSERT INTO profiles (profile_id, email, phone) VALUES
           ('p1', 'b@x.org', '+4712345678'), ('p2', 'c@x.org', NULL), ('p3', NULL, NULL),
           ('p4', 'd@x.org', NULL)"""
    )
    # inserted out of order: the desired state must sort them itself
    data.con.execute(
        """INSERT INTO identities VALUES
           ('p2', 'email', 'c@x.org'), ('p1', 'klaviyo_id', 'k9'), ('p1', 'email', 'z@x.org'),
           ('p1', 'phone', '+4712345678'), ('p1', 'email', 'b@x.org'),
           ('p1', 'hubspot_id', 'h2'), ('p1', 'email', 'a@x.org'), ('p1', 'hubspot_id', 'h1'),
           ('p4', 'phone', '+4700000000'), ('gone', 'email', 'old@x.org')"""
    )
    return data


def test_recipients_carry_each_profiles_own_identifiers(tmp_path: Path) -> None:
    data = _store(tmp_path / "data.duckdb")
    try:
        members = pd.DataFrame({"profile_id": ["p1"], "segment_id": ["vip"], "holdout": [False]})
        state = build_desired(data, pd.DataFrame({"profile_id": []}), members, [], [VIP])
        p1, p2, p3, p4 = state.recipients_of(["p1", "p2", "p3", "p4"])
        assert p1.ids == {"hubspot_id": "h1", "klaviyo_id": "k9"}
        assert p1.other_emails == ("a@x.org", "z@x.org")
        assert (p1.email, p1.phone) == ("b@x.org", "+4712345678")
        assert (p2.ids, p2.other_emails) == ({}, ())
        assert (p3.ids, p3.other_emails) == ({}, ())
        assert (p4.ids, p4.other_emails) == ({}, ())  # a phone alone is not an identifier here
        # a batch in another order reads the same people
        assert state.recipients_of(["p4", "p1"])[1] == p1
        # one profile's rows only (``connector stream``): the same identifiers
        only = build_desired(data, pd.DataFrame({"profile_id": []}), members, [], [VIP], ["p1"])
        assert only.recipients_of(["p1"])[0] == p1
        none = build_desired(data, pd.DataFrame({"profile_id": []}), members, [], [VIP], ["p3"])
        assert none.recipients_of(["p3"])[0] == p3
    finally:
        data.close()


def test_a_number_trait_nobody_was_scored_for_is_no_value(tmp_path: Path) -> None:
    """Scores with the trait's column but no rows (nobody scored): every profile is wanted
    with no value for it (the float path indexed the empty column and failed)."""
    data = _store(tmp_path / "data.duckdb")
    try:
        members = pd.DataFrame({"profile_id": [], "segment_id": [], "holdout": []})
        scores = pd.DataFrame(
            {"profile_id": pd.Series([], dtype=str), "p": pd.Series([], dtype=float)}
        )
        specs = [TraitSpec("p", "number", "P", precision=2)]
        state = build_desired(data, scores, members, specs, [VIP])
        assert [state.traits[p] for p in ("p1", "p2", "p3", "p4")] == [{}] * 4
    finally:
        data.close()
