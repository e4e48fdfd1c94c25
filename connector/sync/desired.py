"""Desired state: what every destination should hold after this run.

Built from the data store after modelling: per profile the traits we deliver and the identifiers
destinations key on, per segment the members to activate (holdout members never are).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connector.plugin.changes import Recipient, SegmentRef, TraitSpec
from connector.store.datastore import DataStore
from connector.sync.desired_columns import (
    MATCH_FIELDS,
    DesiredColumns,
    HeldIds,
    Identities,
    LazyRows,
    MemberSets,
)
from connector.sync.traitvalues import DIGEST_JSON, clean, traits_digest

__all__ = ["DIGEST_JSON", "DesiredState", "build_desired", "clean", "traits_digest"]

_clean = clean  # the name older callers use


@dataclass(slots=True)
class DesiredState:
    """Built by ``build_desired`` the per-person fields are lazy views over ``columns`` (a
    ``Recipient`` or a trait dict is made when read); built by hand (tests) they are dicts,
    and ``table()`` derives the columns the planner reads from them."""

    trait_specs: list[TraitSpec]
    segments: list[SegmentRef]
    traits: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    recipients: Mapping[str, Recipient] = field(default_factory=dict)
    consent: Mapping[str, dict[str, str | None]] = field(default_factory=dict)
    members: Mapping[str, set[str]] = field(default_factory=dict)
    holdouts: Mapping[str, set[str]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    """Retired profile id → the profile it merged into."""
    departed: dict[str, Recipient] = field(default_factory=dict)
    """Inactive profiles (every source record gone): addressable for removal, never wanted."""
    retired_ids: dict[str, dict[str, str]] = field(default_factory=dict)
    """Retired profile id → destination ids learned for it that its survivor already had of
    the same kind (two platform records of one person): removals must reach both."""
    held_ids: Mapping[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    """Profile → every id it holds, by kind (``connector.sync.apart`` finds the record a
    merge's survivor does not write to among the survivor's); read when asked."""
    erasing: set[str] = field(default_factory=set)
    """Profiles a privacy request erases: the traits delivered to them are cleared too."""
    columns: DesiredColumns | None = None

    def table(self) -> DesiredColumns:
        """The columns the planner reads (a hand-built state's derived from its dicts as they
        are now: never kept, so a state changed after one plan is planned as it is)."""
        return self.columns if self.columns is not None else _from_dicts(self)

    def planned(self) -> None:
        """Every destination is planned: what only the planner reads is let go before apply."""
        if self.columns is not None:
            self.columns.forget_fragments()

    def recipients_of(self, pids: Sequence[str]) -> list[Recipient]:
        """The recipients of ``pids`` (each must have one), in order: built in one pass over
        the columns when the state is lazy, so a batch of changes costs its own size."""
        if isinstance(self.recipients, LazyRows):
            return self.recipients.many(pids)
        return [self.recipients[pid] for pid in pids]


def _from_dicts(state: DesiredState) -> DesiredColumns:
    pids = list(state.traits)
    names = sorted({k for row in state.traits.values() for k in row})
    traits: dict[str, np.ndarray | list[Any]] = {
        k: [state.traits[p].get(k) for p in pids] for k in names
    }
    consent = {
        ch: [state.consent.get(p, {}).get(ch) for p in pids] for ch in ("email", "sms", "ads")
    }
    member_pids: list[str] = []
    member_sids: list[str] = []
    for sid, group in state.members.items():
        member_pids.extend(group)
        member_sids.extend([sid] * len(group))
    found = [state.recipients.get(p) for p in pids]
    addresses = pa.array([r.email if r else None for r in found], pa.string())
    several = pa.array([bool(r and r.other_emails) for r in found], pa.bool_())
    return DesiredColumns(
        pids, traits, {}, consent, member_pids, member_sids, addresses, several=several
    )


def build_desired(
    store: DataStore,
    scores: pd.DataFrame,
    memberships: pd.DataFrame,
    trait_specs: list[TraitSpec],
    segments: list[SegmentRef],
    profile_ids: Sequence[str] | None = None,
) -> DesiredState:
    """Everyone's desired state, or (``profile_ids``) only those profiles' recipients, consent
    and memberships: what ``connector stream`` plans for the profiles an event touched."""
    state = DesiredState(trait_specs=trait_specs, segments=segments)
    only = ""
    if profile_ids is not None:
        store.con.register("_desired_only", pd.DataFrame({"pid": list(profile_ids)}, dtype=str))
        only = "AND profile_id IN (SELECT pid FROM _desired_only)"
    try:
        _fill(state, store, scores, memberships, segments, only)
    finally:
        if profile_ids is not None:
            store.con.unregister("_desired_only")
    return state


def _aligned(scores: pd.DataFrame, names: list[str], pids: list[str]) -> dict[str, Any]:
    """Each trait column in the order of ``pids`` (a profile without a score row: no value)."""
    if not names:
        return {}
    if scores.empty:
        return {k: [None] * len(pids) for k in names}
    at = pd.Index(scores["profile_id"].astype(str)).get_indexer(pd.Index(pids))
    missing = at < 0
    out: dict[str, Any] = {}
    for k in names:
        column = scores[k]
        if column.dtype.kind == "f":
            values = column.to_numpy(np.float64)[np.where(missing, 0, at)]
            values[missing] = np.nan
            out[k] = values
        else:  # one C-level gather (a comprehension over a million rows per column cost more)
            listed = column.tolist()
            picked = np.where(missing, 0, at).tolist()
            found = (
                list(itemgetter(*picked)(listed))
                if len(picked) > 1
                else [listed[j] for j in picked]
            )
            for j in np.flatnonzero(missing).tolist():
                found[j] = None
            out[k] = found
    return out


def _fill(
    state: DesiredState,
    store: DataStore,
    scores: pd.DataFrame,
    memberships: pd.DataFrame,
    segments: list[SegmentRef],
    only: str,
) -> None:
    con = store.con
    trait_specs = state.trait_specs
    names = [t.name for t in trait_specs if t.name in scores.columns]
    digits: dict[str, int | None] = {t.name: t.precision for t in trait_specs if t.type == "number"}
    ident = _identities(con, only)
    table = con.sql(
        f"""SELECT profile_id, email, phone, consent_email, consent_sms, consent_ads,
                   {", ".join(MATCH_FIELDS)} FROM profiles WHERE true {only}
            ORDER BY profile_id"""
    ).to_arrow_table()
    pids: list[str] = table.column("profile_id").to_pylist()
    consent = {ch: _shared(table.column(f"consent_{ch}")) for ch in ("email", "sms", "ads")}
    # the addresses stay Arrow, read a batch of people at a time as changes about them are
    # built: never a Python string per person and field for the whole run
    people = table.select(["email", "phone", *MATCH_FIELDS]).combine_chunks()
    known = table.column("profile_id").combine_chunks()
    del table
    position = {pid: i for i, pid in enumerate(pids)}
    # memberships filtered column-wise: a segment planned here, a profile with a row
    member_pids = _text(memberships["profile_id"])
    member_sids = _text(memberships["segment_id"])
    holdout = memberships["holdout"].to_numpy(dtype=bool, na_value=False)
    planned = pa.array(sorted({s.id for s in segments}), pa.string())
    keep = pc.and_(pc.is_in(member_sids, value_set=planned), pc.is_in(member_pids, value_set=known))
    keep_rows = keep.to_numpy(zero_copy_only=False)
    wanted = pa.array(np.flatnonzero(keep_rows & ~holdout))
    held = pa.array(np.flatnonzero(keep_rows & holdout))
    columns = DesiredColumns(
        pids,
        _aligned(scores, names, pids),
        digits,
        consent,
        member_pids.take(wanted).to_pylist(),
        member_sids.take(wanted).to_pylist(),
        addresses=people.column("email").combine_chunks(),
        several=pc.is_in(known, value_set=ident.several_emails()),
        _position=position,
    )
    state.columns = columns
    position = columns.position

    recipients = _recipients_at(people, pids, ident, consent)
    state.recipients = LazyRows(position, lambda i: recipients([i])[0], recipients)
    state.traits = LazyRows(position, columns.values)
    state.consent = LazyRows(position, lambda i: {ch: consent[ch][i] for ch in consent})
    order = [s.id for s in segments]
    state.members = MemberSets(order, columns.member_pids, columns.member_sids)
    state.holdouts = MemberSets(
        order, member_pids.take(held).to_pylist(), member_sids.take(held).to_pylist()
    )
    state.departed = _departed(store, ident) if not only else {}
    state.erasing = {
        str(r[0]) for r in con.execute("SELECT profile_id FROM erasing_profiles").fetchall()
    }
    state.aliases = dict(
        con.execute("SELECT profile_id, merged_into FROM retired_profiles").fetchall()
    )
    retired = list(state.aliases)
    state.retired_ids = {
        pid: known.ids
        for pid, known in zip(retired, ident.of_many(retired), strict=True)
        if known.ids
    }
    state.held_ids = HeldIds(ident)


def _text(column: pd.Series) -> pa.Array:
    """A column of ids as Arrow text (as ``astype(str)`` reads it; an Arrow-backed one as it is)."""
    try:
        found = pa.array(column, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        found = None
    if found is None or not (
        pa.types.is_string(found.type) or pa.types.is_large_string(found.type)
    ):
        found = pa.array(column.astype(str).to_numpy(dtype=object), pa.string())
    return found.cast(pa.string())


def _identities(con: duckdb.DuckDBPyConnection, only: str) -> Identities:
    """Each profile's identifiers besides phone, sorted by kind then value, each with whether
    one of our destinations created the platform record it names. Read as sorted rows
    cut into per-profile lists where the profile id changes: DuckDB's ordered ``list()``
    aggregates cost seconds of every plan at a million profiles, the sort a fraction."""
    rows = con.sql(
        f"""SELECT i.profile_id, i.kind, i.value, c.kind IS NOT NULL AS created
            FROM (SELECT * FROM identities WHERE kind <> 'phone' {only}) i
            LEFT JOIN created_ids c ON c.kind = i.kind AND c.value = i.value
            ORDER BY i.profile_id, i.kind, i.value"""
    ).to_arrow_table()
    pid = rows.column("profile_id").combine_chunks()
    n = len(pid)
    if n == 0:
        empty = pa.chunked_array([pa.array([], pa.list_(pa.string()))])
        return Identities([], empty, empty, pa.chunked_array([pa.array([], pa.list_(pa.bool_()))]))
    moved = pc.not_equal(pid.slice(1), pid.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(moved) + 1]).astype(np.int64)
    offsets = pa.array(np.append(starts, n), pa.int32())

    def lists(name: str) -> pa.ChunkedArray:
        values = rows.column(name).combine_chunks()
        return pa.chunked_array([pa.ListArray.from_arrays(offsets, values)])

    return Identities(
        pid.take(pa.array(starts)).to_pylist(), lists("kind"), lists("value"), lists("created")
    )


def _recipients_at(
    people: pa.Table,
    pids: Sequence[str],
    ident: Identities,
    consent: Mapping[str, Sequence[str | None]],
) -> Callable[[Sequence[int]], list[Recipient]]:
    """Builds the recipients of a batch of rows: one take from ``people`` (aligned with
    ``pids``, as is ``consent``) and one from the identities."""

    def build(rows: Sequence[int]) -> list[Recipient]:
        taken = people.take(pa.array(rows, type=pa.int64()))
        emails, phones = taken.column("email").to_pylist(), taken.column("phone").to_pylist()
        match = [(k, taken.column(k).to_pylist()) for k in MATCH_FIELDS]
        found = ident.of_many([pids[i] for i in rows])
        out = []
        for j, i in enumerate(rows):
            ids, known, made = found[j]
            email = emails[j]
            out.append(
                Recipient(
                    profile_id=pids[i],
                    email=email,
                    phone=phones[j],
                    ids=ids,
                    match={k: v for k, column in match if (v := column[j])},
                    other_emails=tuple(e for e in known if e != email),
                    consent={ch: c for ch, col in consent.items() if (c := col[i])},
                    created=made,
                )
            )
        return out

    return build


def _shared(column: pa.ChunkedArray) -> list[Any]:
    """A column of a few distinct values (consent statuses) as a list in which equal values
    are one object: a pointer per profile, not a string each."""
    seen: dict[Any, Any] = {}
    return [seen.setdefault(v, v) for v in column.to_pylist()]


def _departed(store: DataStore, ident: Identities) -> dict[str, Recipient]:
    """Recipients of inactive profiles, from their identities (they have no profile row)."""
    out: dict[str, Recipient] = {}
    rows = store.con.execute(
        """SELECT i.profile_id, min(p.value) FROM inactive_profiles i
           LEFT JOIN identities p ON p.profile_id = i.profile_id AND p.kind = 'phone'
           GROUP BY 1 ORDER BY 1"""
    ).fetchall()
    known = ident.of_many([pid for pid, _ in rows])
    for (pid, phone), (ids, found, _) in zip(rows, known, strict=True):
        out[pid] = Recipient(
            profile_id=pid,
            email=found[0] if found else None,
            phone=phone,
            ids=ids,
            other_emails=tuple(found[1:]),
        )
    return out
