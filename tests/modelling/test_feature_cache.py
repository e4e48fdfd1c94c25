"""Kept features (`connector.modelling.feature_cache`): a run that recomputes only the changed
profiles' features gives what a run that recomputes everyone gives, byte for byte, and a store
without the kept rows (an upgrade) recomputes everyone."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from connector.modelling import feature_cache, score_cache
from connector.modelling.backend import DuckBackend
from connector.modelling.engine import ModelResult, ModelState, run_models
from connector.modelling.features import compute_features
from connector.modelling.keys import with_model_keys
from connector.modelling.settings import ModelSettings
from connector.store.datastore import DataStore
from connector.store.purge import purge_profiles
from connector.testing.testdata import generate

AS_OF = datetime(2025, 1, 1)
SETTINGS = ModelSettings()


class _Runs:
    def __init__(self) -> None:
        self.computed: list[list[tuple[bool, int]]] = []  # (scoped, rows) per features pass
        self.results: dict[str, ModelResult] = {}
        self.changed: set[str] = set()
        self.moved: list[str] = []  # profiles whose features the changes must move


def _run(con: duckdb.DuckDBPyConnection, state: ModelState | None, runs: _Runs, name: str) -> None:
    seen: list[tuple[bool, int]] = []

    def counting(*args: Any, **kwargs: Any) -> pd.DataFrame:
        out = compute_features(*args, **kwargs)
        seen.append((kwargs.get("scope") is not None, len(out)))
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(feature_cache, "compute_features", counting)
        runs.results[name] = run_models(con, as_of=AS_OF, settings=SETTINGS, previous=state)
    runs.computed.append(seen)


def _change(con: duckdb.DuckDBPyConnection, first: ModelResult, runs: _Runs) -> None:
    """Every kind of change a profile's features see."""
    f = first.features
    buyers = f.loc[f["orders"] > 0, "profile_id"].sort_values().tolist()
    others = f.loc[f["orders"] == 0, "profile_id"].sort_values().tolist()
    ordered, repriced, older, merged, into, gone = buyers[:12], *buyers[12:17]
    con.executemany(  # a new order each
        "INSERT INTO events VALUES (?, ?, 'order_completed', ?, ?, 'EUR', NULL, 't')",
        [[f"new-{i}", p, AS_OF - timedelta(days=3 + i), 40.0] for i, p in enumerate(ordered)],
    )
    # one order's revenue corrected: the count of events stays, only a value moves
    con.execute(
        """UPDATE events SET revenue = revenue + 7 WHERE event_id = (
             SELECT min(event_id) FROM events WHERE profile_id = ? AND type = 'order_completed'
               AND occurred_at < ?)""",
        [repriced, AS_OF],
    )
    con.execute(
        "UPDATE profiles SET created_at = created_at - INTERVAL 400 DAY WHERE profile_id = ?",
        [older],
    )
    # two profiles found to be one person: the events move, one profile row goes
    con.execute("UPDATE events SET profile_id = ? WHERE profile_id = ?", [into, merged])
    con.execute("DELETE FROM profiles WHERE profile_id = ?", [merged])
    con.execute("DELETE FROM events WHERE profile_id = ?", [gone])
    con.execute("DELETE FROM profiles WHERE profile_id = ?", [gone])
    con.execute("INSERT INTO profiles VALUES ('newcomer', ?, 'DE', NULL, NULL, NULL)",
                [AS_OF - timedelta(days=50)])  # fmt: skip
    con.execute(
        "INSERT INTO events VALUES ('newcomer-1', 'newcomer', 'order_completed', ?, 25.0, 'EUR',"
        " NULL, 't')",
        [AS_OF - timedelta(days=20)],
    )
    con.execute(  # an engagement event on a non-buyer
        "INSERT INTO events VALUES ('opened-1', ?, 'email_opened', ?, NULL, NULL, NULL, 't')",
        [others[0], AS_OF - timedelta(days=2)],
    )
    runs.changed = {*ordered, repriced, older, merged, into, gone, "newcomer", others[0]}
    runs.moved = [*ordered, repriced, older, into, others[0]]


@pytest.fixture(scope="module")
def runs() -> _Runs:
    out = _Runs()
    con = duckdb.connect()
    generate(con, n_profiles=2000, seed=21)
    _run(con, None, out, "first")
    _change(con, out.results["first"], out)
    state = ModelState.model_validate_json(out.results["first"].state.model_dump_json())
    _run(con, state, out, "incremental")
    _run(con, state, out, "again")  # nothing changed since
    for table in (feature_cache.TABLE, score_cache.TABLE):  # a store from before the cache
        con.execute(f"DROP TABLE {table}")
    _run(con, state, out, "full")
    _run(con, state, out, "after_upgrade")
    return out


def _same_bytes(a: pd.DataFrame, b: pd.DataFrame, name: str) -> None:
    """Same columns, dtypes and values, floats compared bit for bit (NaN, -0.0 included)."""
    assert list(a.columns) == list(b.columns), name
    assert list(a.dtypes) == list(b.dtypes), name
    assert len(a) == len(b), name
    for col in a.columns:
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.int64), y.view(np.int64)), f"{name}.{col}"
        else:
            assert x.tolist() == y.tolist(), f"{name}.{col}"


def _assert_same(one: ModelResult, other: ModelResult) -> None:
    _same_bytes(one.features, other.features, "features")
    _same_bytes(one.scores, other.scores, "scores")
    _same_bytes(one.memberships, other.memberships, "memberships")
    assert one.segments == other.segments
    assert one.drift == other.drift
    cards = [{k: v for k, v in c.items() if k != "trained_at"} for c in one.model_cards]
    assert cards == [{k: v for k, v in c.items() if k != "trained_at"} for c in other.model_cards]


def test_recomputing_only_the_changed_profiles_equals_recomputing_everyone(runs: _Runs) -> None:
    _assert_same(runs.results["incremental"], runs.results["full"])
    # and the changes reached the features: rows kept from the first run would be wrong
    first = runs.results["first"].features.set_index("profile_id")
    now = runs.results["incremental"].features.set_index("profile_id")
    assert "newcomer" in now.index
    before, after = first.loc[runs.moved], now.loc[runs.moved, list(first.columns)]
    differs = ~((before.to_numpy() == after.to_numpy()) | (before.isna() & after.isna())).all(
        axis=1
    )
    assert differs.all(), [p for p, d in zip(runs.moved, differs, strict=True) if not d]


def test_only_the_changed_profiles_are_computed_again(runs: _Runs) -> None:
    first, incremental, again = runs.computed[0], runs.computed[1], runs.computed[2]
    profiles = len(runs.results["first"].features)
    assert first[-1] == (False, profiles)  # the scoring cutoff's pass is the last
    scoped = [c for c in incremental if c[0]]
    assert len(scoped) == 1
    # the changed profiles still there (the merged-away and the deleted ones are not)
    assert scoped[0][1] == len(runs.changed) - 2
    assert [c for c in again if c[0]] == [(True, 0)]
    _assert_same(runs.results["again"], runs.results["incremental"])


def test_a_store_without_kept_features_recomputes_everyone(runs: _Runs) -> None:
    full, after = runs.computed[3], runs.computed[4]
    assert not any(scoped for scoped, _ in full)
    assert full[-1][1] == len(runs.results["full"].features)
    assert [c for c in after if c[0]] == [(True, 0)]  # and keeps them for the next run
    _assert_same(runs.results["after_upgrade"], runs.results["full"])


def test_another_cutoff_recomputes_everyone() -> None:
    con = duckdb.connect()
    generate(con, n_profiles=300, seed=3)
    args: dict[str, Any] = {"categories": [], "half_life_days": 30.0, "items_table": None,
                            "baskets_table": None}  # fmt: skip
    backend = DuckBackend()
    feature_cache.cached_features(backend, con, AS_OF, **args)
    later = AS_OF + timedelta(days=1)
    got = feature_cache.cached_features(backend, con, later, **args)
    _same_bytes(got, compute_features(con, later, **args), "features")
    again = feature_cache.cached_features(backend, con, later, **args)  # read back, keyed
    _same_bytes(again, with_model_keys(con, got), "features")


def test_an_erasure_removes_the_kept_features_of_the_person(tmp_path: Path) -> None:
    """A kept feature row is behaviour of a person: erased with their features and scores."""
    store = DataStore(tmp_path / "data.duckdb")
    try:
        store.con.execute(
            f"CREATE TABLE {feature_cache.TABLE} AS SELECT 'key' AS key, * FROM "
            "(VALUES (1, true, 'gone', 3.0), (2, true, 'kept', 1.0)) t(fp, has_row, profile_id,"
            " orders)"
        )
        purge_profiles(store, ["gone"])
        rows = store.con.execute(f"SELECT profile_id FROM {feature_cache.TABLE}").fetchall()
    finally:
        store.close()
    assert rows == [("kept",)]
