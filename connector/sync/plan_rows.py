"""The planner's two halves in the data engine, and the rows it hands back turned into changes.

``wanted_traits`` and ``wanted_members`` put what the destination should hold (keys and trait
digests, after the consent and identifiability gates) into the plan's database;
``upsert_candidates`` joins it with the ledger's copy; ``Builders`` turns one planned row back
into a ``Change`` when apply reads it (``connector.sync.planned``).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any, Literal, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state.ledger import PENDING
from connector.sync.apart import retired
from connector.sync.consent import allowed
from connector.sync.desired import DesiredState, traits_digest
from connector.sync.desired_columns import MEMBER, AddressMode, address_mode
from connector.sync.plan_db import PlanDatabase, Row
from connector.sync.settle import settle
from connector.sync.settle_columns import settled_digests

__all__ = [
    "Builders", "batched", "put_table", "upsert_candidates", "wanted_members", "wanted_traits",
]  # fmt: skip

Channel = Literal["email", "ads"] | None
T = TypeVar("T")
_BATCH = 5_000  # people whose recipients are built at once


def put_table(
    db: PlanDatabase,
    name: str,
    columns: Mapping[str, Sequence[Any]],
    bools: tuple[str, ...] = (),
) -> None:
    """A table of the plan's database from Python columns (text, and ``bools``), handed over
    as Arrow (``db.drop`` forgets it)."""
    fields = [(col, pa.bool_() if col in bools else pa.string()) for col in columns]
    db.put(name, pa.table(dict(columns), schema=pa.schema(fields)))


def _values(row: Mapping[str, Any], wanted: frozenset[str] | None) -> Mapping[str, Any]:
    return row if wanted is None else {k: v for k, v in row.items() if k in wanted}


def _allowed_mask(
    values: Sequence[str | None], policy: Literal["strict", "not_denied"]
) -> list[bool]:
    """``allowed`` per row, asked once per distinct status."""
    seen: dict[str | None, bool] = {}
    return [seen[v] if v in seen else seen.setdefault(v, allowed(v, policy)) for v in values]


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last shorter)."""
    it = iter(items)
    while chunk := list(islice(it, max(1, size))):
        yield chunk


def _gated(
    pids: Sequence[str], desired: DesiredState, gate: Callable[[Recipient], bool] | None
) -> list[bool]:
    """The sink's ``accepts`` per row (every row passes when the sink has no such hook); the
    recipients built a batch at a time, never all at once."""
    if gate is None:
        return [True] * len(pids)
    return [gate(r) for chunk in batched(pids, _BATCH) for r in desired.recipients_of(chunk)]


def wanted_traits(
    db: PlanDatabase,
    desired: DesiredState,
    skipped: Counter[str],
    wanted: frozenset[str] | None,
    *,
    with_traits: bool,
    gate: Callable[[Recipient], bool] | None,
    unidentifiable: str,
    channel: Channel,
    policy: Literal["strict", "not_denied"],
    rows_per_profile: bool = False,
    apart: Mapping[str, str] | None = None,
) -> None:
    """Table ``want_traits`` (key, profile_id, digest, withdrawn) and ``erasing``.

    A profile whose traits are no longer allowed is wanted with no traits (``withdrawn``): the
    plan clears what was delivered, and plans nothing for one never delivered to. ``erasing``
    holds the profiles whose delivered traits are cleared: those a privacy request erases, and
    with ``rows_per_profile`` also every departed or merged-away profile (its row is its own),
    and each merged-away profile of ``apart`` (``connector.sync.apart``)."""
    cols = desired.table()
    pids = cols.pids if with_traits else []
    ok = _gated(pids, desired, gate)
    out = (
        [not a for a in _allowed_mask(cols.consent_of(channel), policy)]
        if channel is not None and pids
        else [False] * len(pids)
    )
    digests = cols.digests(wanted, address=address_mode(rows_per_profile)) if pids else []
    empty = traits_digest({})
    keep = [i for i, good in enumerate(ok) if good]
    skipped_gate = len(pids) - len(keep)
    if skipped_gate:
        skipped[unidentifiable] += skipped_gate
    withdrawn = [out[i] for i in keep]
    if any(withdrawn):
        skipped[f"no {channel} consent for traits"] += sum(withdrawn)
    everyone = len(keep) == len(pids)  # no gate refused: the columns as they are
    kept = pa.array(pids if everyone else [pids[i] for i in keep], pa.string())
    held = pa.array(withdrawn, pa.bool_())
    found = pa.array(digests if everyone else [digests[i] for i in keep], pa.string())
    db.put(
        "want_traits",
        pa.table(
            {
                "key": _joined("t", kept),
                "profile_id": kept,
                "digest": pc.if_else(held, pa.scalar(empty), found),
                "withdrawn": held,
                # the profile's row in the desired columns: settling reads its values there
                "row_at": pa.array(np.arange(len(pids)) if everyone else keep, pa.int64()),
            }
        ),
    )
    gone: set[str] = set()
    if with_traits:
        gone = {p for p in desired.erasing if p in desired.departed}
        if rows_per_profile:
            gone |= set(desired.departed) | retired(desired)
        gone |= set(apart or {})
    put_table(db, "erasing", {"profile_id": sorted(gone)})


def wanted_members(
    db: PlanDatabase,
    desired: DesiredState,
    active: Mapping[str, SegmentRef],
    skipped: Counter[str],
    *,
    gate: Callable[[Recipient], bool] | None,
    unidentifiable: str,
    channel: Channel,
    policy: Literal["strict", "not_denied"],
    full_members: bool,
    rows_per_profile: bool = False,
    by_address: bool = False,
    apart: Mapping[str, str] | None = None,
) -> dict[str, list[Change]]:
    """Table ``want_members`` (key, segment_id, profile_id, digest) and ``merged``; with
    ``full_members`` every wanted member per segment as changes, for a replacing sink.
    ``by_address``: the destination holds members under an address (a hashed audience), so
    the digest names the current one of a person who has had several."""
    cols = desired.table()
    segment_of = pa.array(cols.member_sids, pa.string())
    chosen = pc.is_in(segment_of, value_set=pa.array(list(active), pa.string()))
    rows: np.ndarray = np.flatnonzero(chosen.to_numpy(zero_copy_only=False))
    member_of = pa.array(cols.member_pids, pa.string())
    if channel and len(rows):
        fine = _consented(desired, member_of.take(pa.array(rows)), channel, policy)
        refused = len(rows) - int(fine.sum())
        if refused:
            skipped[f"no {channel} consent"] += refused
        rows = rows[fine]
    if gate is not None and len(rows):
        passed = np.array(_gated(member_of.take(pa.array(rows)).to_pylist(), desired, gate), bool)
        if len(rows) - int(passed.sum()):
            skipped[unidentifiable] += len(rows) - int(passed.sum())
        rows = rows[passed]
    sids = _picked(segment_of, rows)
    pids = _picked(member_of, rows)
    keys = _joined("m", sids, pids)
    digests = (
        cols.member_digests(pids) if by_address else pa.array([MEMBER] * len(pids), pa.string())
    )
    members: dict[str, list[Change]] = {}
    if full_members:
        listed = sorted(
            zip(sids.to_pylist(), pids.to_pylist(), keys.to_pylist(), digests.to_pylist(),
                strict=True)
        )  # fmt: skip
        for chunk in batched(listed, _BATCH):
            found = desired.recipients_of([pid for _, pid, _, _ in chunk])
            for (sid, _, key, digest), recipient in zip(chunk, found, strict=True):
                add = Change(ChangeKind.ADD, recipient, key, digest, segment=active[sid])
                members.setdefault(sid, []).append(add)
    db.put(
        "want_members",
        pa.table({"key": keys, "segment_id": sids, "profile_id": pids, "digest": digests}),
    )
    # a retired profile with no recipient of its own: its memberships are the survivor's (a
    # destination keyed by profile id holds them in the retired profile's own rows, a platform
    # holding two records of the person in one the survivor does not write to: ``apart``)
    away = apart or {}
    gone = (
        {}
        if rows_per_profile
        else {p: desired.aliases[p] for p in retired(desired) if p not in away}
    )
    put_table(db, "merged", {"profile_id": list(gone), "survivor": list(gone.values())})
    return members


def _consented(
    desired: DesiredState, pids: pa.Array, channel: str, policy: Literal["strict", "not_denied"]
) -> np.ndarray:
    """Per member, whether its profile's ``channel`` consent allows it (looked up column-wise;
    a member without a profile row by its own consent)."""
    cols = desired.table()
    allowed_row = np.array(_allowed_mask(cols.consent_of(channel), policy), dtype=bool)
    found = pc.index_in(pids, value_set=pa.array(cols.pids, pa.string()))
    at = pc.fill_null(found, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    fine = allowed_row[np.maximum(at, 0)] if len(allowed_row) else np.zeros(len(at), bool)
    for j in np.flatnonzero(at < 0).tolist():
        pid = pids[j].as_py()
        fine[j] = allowed(desired.consent.get(pid, {}).get(channel), policy)
    return fine


def _joined(head: str, *parts: pa.Array) -> pa.Array:
    """``head:part:part`` per row (a ledger key), joined in Arrow."""
    return pc.binary_join_element_wise(pa.scalar(head), *parts, ":")


def _picked(column: pa.Array, rows: np.ndarray) -> pa.Array:
    """``column`` at ``rows`` (rows are ascending: all of them is the column as it is)."""
    if len(rows) == len(column):
        return column
    return column.take(pa.array(rows.astype(np.int64)))


_TRAIT_CHANGES = """
    SELECT w.key, w.profile_id, w.digest, w.withdrawn, l.payload, l.numbers,
           l.digest AS prev, l.key IS NOT NULL AS known, FALSE AS cleared, 0 AS part, w.row_at
    FROM want_traits w LEFT JOIN ledger_rows l ON l.key = w.key
    WHERE CASE WHEN l.key IS NULL THEN NOT w.withdrawn ELSE l.digest <> w.digest END
    UNION ALL
    SELECT l.key, l.profile_id, $1, FALSE, l.payload, l.numbers, l.digest, TRUE, TRUE, 1,
           CAST(NULL AS BIGINT)
    FROM ledger_rows l JOIN erasing e ON l.key = 't:' || e.profile_id
    WHERE l.kind = 'trait' AND l.digest <> $1"""
# the settled digests replace the join's; '' marks a score back at what was delivered
_SETTLED = """
    SELECT c.key, c.profile_id, coalesce(s.digest, c.digest) AS digest, c.withdrawn,
           c.payload, c.numbers, c.prev, c.known, c.cleared, c.part
    FROM cand_traits c LEFT JOIN settled s ON s.key = c.key AND c.part = 0
    WHERE s.digest IS NULL OR s.digest <> ''"""


def upsert_candidates(db: PlanDatabase, desired: DesiredState, build: Builders) -> None:
    """Table ``cand_upserts``: wanted traits whose digest differs from the ledger's (or that
    it lacks), and delivered traits of people being erased (``part`` 1); then the scores that
    moved by less than their precision are settled back to what was delivered."""
    empty = traits_digest({})
    if not build.digits:
        db.create("cand_upserts", _TRAIT_CHANGES, [empty])
        return
    db.create("cand_traits", _TRAIT_CHANGES, [empty])
    found = db.arrow(
        """SELECT key, row_at, numbers, prev FROM cand_traits
           WHERE part = 0 AND NOT withdrawn AND numbers IS NOT NULL AND prev <> $1""",
        [PENDING],
    )
    same, moved = settled_digests(
        desired.table(), build.wanted, build.digits, found, address=build.address
    )
    put_table(
        db,
        "settled",
        {"key": [*same, *moved], "digest": [""] * len(same) + list(moved.values())},
    )
    db.create("cand_upserts", _SETTLED)
    db.drop("settled", "cand_traits")


class Builders:
    """Planned rows back into changes, with the desired state's recipients and values."""

    def __init__(
        self,
        desired: DesiredState,
        active: Mapping[str, SegmentRef],
        wanted: frozenset[str] | None,
        digits: Mapping[str, int],
        *,
        may_create: bool,
        address: AddressMode = "none",
        apart: tuple[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.desired = desired
        self.active = active
        self.apart = apart  # (record kind, merged-away profile → its record: ``sync.apart``)
        self.wanted = wanted
        self.digits = digits
        self.may_create = may_create
        self.address = address  # which e-mails the trait digests hold

    def values(self, pid: str) -> Mapping[str, Any]:
        return _values(self.desired.traits[pid], self.wanted)

    def upserts(self, rows: Sequence[Row]) -> list[Change]:
        """A batch of planned upserts (key, profile_id, digest, withdrawn, payload, numbers,
        cleared), their recipients built together."""
        live = iter(self.desired.recipients_of([r[1] for r in rows if not r[6]]))
        return [self._upsert(row, self._holder(row[1]) if row[6] else next(live))
                for row in rows]  # fmt: skip

    def _away(self, pid: str) -> dict[str, str]:
        kind, records = self.apart or ("", {})
        return {kind: records[pid]} if pid in records else {}

    def _merged_away(self, pid: str) -> bool:
        return pid in self.desired.aliases and pid not in self.desired.departed

    def _upsert(self, row: Row, recipient: Recipient) -> Change:
        key, pid, digest, withdrawn, payload, numbers, cleared = row
        names: list[str] = json.loads(payload) if payload else []
        values: Mapping[str, Any] = {}
        if not cleared and not withdrawn:
            values = settle(self.values(pid), numbers, self.digits)
        unset = tuple(sorted(set(names) - set(values)))
        return Change(
            ChangeKind.UPSERT, recipient, key, digest, dict(values), unset,
            may_create=self.may_create, clears=bool(cleared or withdrawn),
            merged_away=bool(cleared) and self._merged_away(pid),
        )  # fmt: skip

    def adds(self, rows: Sequence[Row]) -> list[Change]:
        """A batch of planned adds (key, segment_id, profile_id, digest, moved)."""
        found = self.desired.recipients_of([row[2] for row in rows])
        return [
            Change(ChangeKind.ADD, recipient, key, digest, segment=self.active[sid],
                   moved=bool(moved))
            for (key, sid, _, digest, moved), recipient in zip(rows, found, strict=True)
        ]  # fmt: skip

    def removes(self, rows: Sequence[Row]) -> list[Change]:
        """A batch of planned removes (key, segment_id, profile_id, digest), addressed to
        whoever holds each membership now (``_holder``)."""
        d = self.desired
        pids = list(dict.fromkeys(pid for _, _, pid, _ in rows if pid in d.recipients))
        found = dict(zip(pids, d.recipients_of(pids), strict=True))
        out = []
        for key, sid, pid, digest in rows:
            seg = self.active.get(sid) or next(
                (s for s in d.segments if s.id == sid), SegmentRef(sid, sid)
            )
            live = found.get(pid)
            recipient = live or self._holder(pid)
            out.append(Change(ChangeKind.REMOVE, recipient, key, digest, segment=seg,
                              clears=live is None,
                              merged_away=live is None and self._merged_away(pid)))  # fmt: skip
        return out

    def _holder(self, pid: str) -> Recipient:
        """The recipient of a membership whose profile is not wanted: a departed one's own, or
        a retired profile's own platform ids first (when both halves of a merge had a record at
        the destination, the membership is held by the record the survivor does not write to,
        ``apart``)."""
        d = self.desired
        recipient = d.departed.get(pid)
        if recipient is None:
            survivor = d.aliases.get(pid) or ""
            found = d.recipients.get(survivor) or d.departed.get(survivor)
            recipient = Recipient(
                pid,
                email=found.email if found else None,
                phone=found.phone if found else None,
                ids={
                    **(found.ids if found else {}),
                    **d.retired_ids.get(pid, {}),
                    **self._away(pid),
                },
                other_emails=found.other_emails if found else (),
            )
        return recipient
