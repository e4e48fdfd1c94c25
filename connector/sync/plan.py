"""The planner: desired state minus what the ledger says each destination already holds.

Only differences become changes: an upsert when a profile's delivered traits differ (with the
names of traits to unset), an add for a new member, a remove only for a membership this
connector added earlier (it is in our ledger) and no longer wants.

The comparison runs in the data engine: the ledger is copied a chunk at a time into a database
of the plan's own (``connector.sync.mirror``; DuckDB, or Spark with ``[engine] kind = "spark"``,
``connector.sync.plan_db``), the desired keys and digests are handed over as Arrow tables, and
joins keyed by ledger key find the differences. Python then sees only
the differences, and builds each ``Change`` when apply reads it (``PlannedChanges``), so neither
a ledger of tens of millions of rows nor a first run's millions of changes are held as Python
objects. A number that moved by less than its precision is not re-sent (``connector.sync.settle``).

An upsert is a *create* when neither the ledger (traits delivered before) nor the sink's
``known`` hook (the platform's own id for the person, from a pull or an earlier write) says the
destination holds the person; the plan counts creates before anything is sent, and a
destination in ``update_only`` mode skips them (and their list adds) instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from connector.plugin.changes import Change, ChangeKind, Recipient, SegmentRef
from connector.state.ledger import LedgerEntry
from connector.sync.apart import apart
from connector.sync.desired import DesiredState
from connector.sync.desired_columns import address_mode
from connector.sync.mirror import LedgerSource, mirror_ledger
from connector.sync.plan_db import PlanDatabase, as_plan_database
from connector.sync.plan_rows import (
    Builders,
    batched,
    put_table,
    upsert_candidates,
    wanted_members,
    wanted_traits,
)
from connector.sync.planned import PlannedChanges, plan_engine
from connector.sync.settle import precisions

__all__ = ["DestinationPlan", "plan_destination"]


@dataclass(slots=True)
class DestinationPlan:
    destination: str
    upserts: Sequence[Change] = field(default_factory=list)
    adds: Sequence[Change] = field(default_factory=list)
    removes: Sequence[Change] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    # every wanted member per segment, planned only for a sink that replaces memberships
    members: dict[str, list[Change]] = field(default_factory=dict)
    creates: int = 0
    """How many of ``upserts`` would create a record at the destination (the rest update)."""
    engine: PlanDatabase | None = None
    """The database the planned changes are read from: kept while the plan is, for the
    samples the CLI prints after a run; ``close`` (or dropping the plan) frees its tables."""

    def counts(self) -> dict[str, int]:
        return {"upsert": len(self.upserts), "add": len(self.adds), "remove": len(self.removes)}

    def split(self) -> dict[str, int]:
        """Counts with upserts split into creates and updates, as the plan shows them."""
        updates = len(self.upserts) - self.creates
        return {"create": self.creates, "update": updates, "add": len(self.adds),
                "remove": len(self.removes)}  # fmt: skip

    @property
    def total(self) -> int:
        return len(self.upserts) + len(self.adds) + len(self.removes)

    def by_kind(self) -> list[tuple[ChangeKind, Sequence[Change]]]:
        """Upserts first (records exist before lists reference them), then removes, then adds."""
        return [
            (ChangeKind.UPSERT, self.upserts),
            (ChangeKind.REMOVE, self.removes),
            (ChangeKind.ADD, self.adds),
        ]

    def close(self) -> None:
        """Release the plan's database (its changes can no longer be read)."""
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def plan_destination(
    destination: str,
    desired: DesiredState,
    ledger: LedgerSource | Mapping[str, LedgerEntry],
    *,
    traits: tuple[str, ...] | Literal["all"] = "all",
    segments: tuple[str, ...] | Literal["all"] = "all",
    consent_channel: Literal["email", "ads"] | None = None,
    consent_policy: Literal["strict", "not_denied"] = "strict",
    accepts: Callable[[Recipient], bool] | None = None,
    with_traits: bool = True,
    with_memberships: bool = True,
    trait_consent_channel: Literal["email", "ads"] | None = None,
    full_members: bool = False,
    known: Callable[[Recipient], bool | None] | None = None,
    update_only: bool = False,
    held: Iterable[str] = (),
    hold_small_moves: bool = True,
    db: PlanDatabase | duckdb.DuckDBPyConnection | None = None,
    rows_per_profile: bool = False,
    members_by_address: bool = False,
    record_kind: str | None = None,
) -> DestinationPlan:
    """Plan one destination; ``with_traits`` / ``with_memberships`` follow its capabilities.

    ``ledger`` is the state store's ``Ledger`` (read in chunks) or its ``entries``. Memberships
    of ``held`` segments (a rule that failed) are left as they are. ``known`` is the sink's hook
    (does the platform hold this person?); with ``update_only`` a person it does not hold, and
    we never delivered to, is skipped rather than created.

    ``consent_channel`` gates memberships, ``trait_consent_channel`` traits (both under
    ``consent_policy``). A profile whose traits are no longer allowed gets them cleared: an
    upsert with no values that unsets every trait delivered before, never mere silence.
    ``full_members`` also lists every wanted member of each segment (``plan.members``), for a
    sink that replaces whole memberships. ``db``: the database to plan in (default: a DuckDB
    connection of the plan's own; ``connector.engine.plan_database`` gives Spark's); the plan
    keeps it to read its changes from. ``rows_per_profile``: the destination keys its records
    by profile id (``connector.plugin.protocols.RowsPerProfile``). ``members_by_address``: it
    holds members under a hashed address (an ad audience), so a member whose e-mail changed
    is added again (``Change.moved``). ``record_kind``: the id kind of the platform records it
    writes, kept apart when profiles merge (``connector.plugin.protocols.PlatformRecords``).
    """
    db = as_plan_database(db if db is not None else plan_engine())
    plan = DestinationPlan(destination, engine=db)
    mirror_ledger(db, destination, ledger, held=held)
    wanted = None if traits == "all" else frozenset(traits)
    gate = _Gate(accepts).ok if accepts is not None else None
    unidentifiable = f"not identifiable by {destination}"
    away = apart(desired, record_kind)
    wanted_traits(
        db, desired, plan.skipped, wanted, with_traits=with_traits, gate=gate,
        unidentifiable=unidentifiable, channel=trait_consent_channel, policy=consent_policy,
        rows_per_profile=rows_per_profile, apart=away,
    )  # fmt: skip
    active: dict[str, SegmentRef] = {
        s.id: s
        for s in desired.segments
        if with_memberships and (segments == "all" or s.id in segments)
    }
    plan.members = wanted_members(
        db, desired, active, plan.skipped, gate=gate, unidentifiable=unidentifiable,
        channel=consent_channel, policy=consent_policy, full_members=full_members,
        rows_per_profile=rows_per_profile, by_address=members_by_address, apart=away,
    )  # fmt: skip
    digits = precisions(desired.trait_specs, hold_small_moves=hold_small_moves)
    build = Builders(
        desired, active, wanted, digits, may_create=not update_only,
        address=address_mode(rows_per_profile),
        apart=(record_kind, away) if record_kind else None,
    )  # fmt: skip
    upsert_candidates(db, desired, build)
    _finish(plan, db, desired, build, known, update_only=update_only)
    return plan


class _Gate:
    """The sink's ``accepts`` hook, asked once per person (traits and memberships share it)."""

    def __init__(self, accepts: Callable[[Recipient], bool] | None) -> None:
        self._accepts = accepts
        self._seen: dict[str, bool] = {}

    def ok(self, recipient: Recipient) -> bool:
        if self._accepts is None:
            return True
        pid = recipient.profile_id
        found = self._seen.get(pid)
        if found is None:
            found = self._seen[pid] = bool(self._accepts(recipient))
        return found


_ADDS = """
    SELECT w.key, w.segment_id, w.profile_id, w.digest,
           coalesce(l.digest <> 'pending', FALSE) AS moved, l.key IS NOT NULL AS in_ledger,
           t.key IS NOT NULL AS traits_known
    FROM want_members w
    LEFT JOIN ledger_rows l ON l.key = w.key
    LEFT JOIN ledger_rows t ON t.key = 't:' || w.profile_id
    WHERE l.key IS NULL OR l.digest = 'pending' OR l.digest <> w.digest"""
# a member whose digest changed is held under an address the person has given up (``moved``);
# pending memberships count: a crash may have left the member at the destination; a member
# merged into a survivor who is wanted in the segment stays (it is the survivor's now), unless
# the destination keys its rows by profile id (``merged`` is then empty)
_REMOVES = """
    SELECT l.key, coalesce(l.segment_id, '') AS segment_id, l.profile_id, l.digest
    FROM ledger_rows l
    LEFT JOIN want_members w ON w.key = l.key
    LEFT JOIN merged a ON a.profile_id = l.profile_id
    LEFT JOIN want_members s ON s.key = 'm:' || coalesce(l.segment_id, '') || ':' || a.survivor
    WHERE l.kind = 'membership' AND w.key IS NULL AND s.key IS NULL"""
# what each planned table holds after ``ord``, in the order ``Builders`` reads it
_UPSERT = ("key", "profile_id", "digest", "withdrawn", "payload", "numbers", "cleared")
_ADD = ("key", "segment_id", "profile_id", "digest", "moved")
_REMOVE = ("key", "segment_id", "profile_id", "digest")


def _finish(
    plan: DestinationPlan,
    db: PlanDatabase,
    desired: DesiredState,
    build: Builders,
    known: Callable[[Recipient], bool | None] | None,
    *,
    update_only: bool,
) -> None:
    """Creates counted (or, ``update_only``, dropped); the plan's three tables numbered."""
    candidates = db.create("cand_adds", _ADDS)
    candidates += _count(db, "SELECT count(*) FROM cand_upserts")
    new: list[str] = []
    if known is not None:
        pids = db.rows(
            """SELECT profile_id FROM cand_upserts WHERE NOT known AND NOT cleared
               UNION SELECT profile_id FROM cand_adds WHERE NOT in_ledger AND NOT traits_known
               ORDER BY 1"""
        )
        new = [
            r.profile_id
            for chunk in batched((pid for (pid,) in pids), db.batch)
            for r in desired.recipients_of(chunk)
            if known(r) is False
        ]
    put_table(db, "new_people", {"profile_id": new})
    fresh = "profile_id IN (SELECT profile_id FROM new_people)"
    skip_up = f"NOT known AND NOT cleared AND {fresh}" if update_only else "FALSE"
    skip_add = f"NOT in_ledger AND NOT traits_known AND {fresh}" if update_only else "FALSE"
    upserts = db.create(
        "plan_upserts",
        f"""SELECT row_number() OVER (ORDER BY part, profile_id) AS ord, {", ".join(_UPSERT)}
            FROM cand_upserts WHERE NOT ({skip_up}) ORDER BY ord""",
    )
    adds = db.create(
        "plan_adds",
        f"""SELECT row_number() OVER (ORDER BY segment_id, profile_id) AS ord, {", ".join(_ADD)}
            FROM cand_adds WHERE NOT ({skip_add}) ORDER BY ord""",
    )
    removes = db.create(
        "plan_removes",
        f"SELECT row_number() OVER (ORDER BY key) AS ord, {', '.join(_REMOVE)} "
        f"FROM ({_REMOVES}) AS r ORDER BY ord",
    )
    if new and not update_only:
        plan.creates = _count(  # every candidate upsert is planned (no update_only)
            db, f"SELECT count(*) FROM cand_upserts WHERE NOT known AND NOT cleared AND {fresh}"
        )
    if update_only and candidates > upserts + adds:
        plan.skipped[f"not in {plan.destination} (update_only)"] += candidates - upserts - adds
    db.drop(
        "ledger_rows", "cand_upserts", "cand_adds",
        "want_traits", "erasing", "want_members", "merged", "new_people",
    )  # fmt: skip
    plan.upserts = PlannedChanges(db, "plan_upserts", _UPSERT, upserts, build.upserts)
    plan.adds = PlannedChanges(db, "plan_adds", _ADD, adds, build.adds)
    plan.removes = PlannedChanges(db, "plan_removes", _REMOVE, removes, build.removes)


def _count(db: PlanDatabase, sql: str) -> int:
    """The one number a counting query returns."""
    found = db.rows(sql)
    return int(found[0][0]) if found else 0
