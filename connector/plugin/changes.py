"""The vocabulary between the planner and every sink: changes in, one outcome per change out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "Change",
    "ChangeKind",
    "Outcome",
    "OutcomeStatus",
    "Recipient",
    "SegmentRef",
    "TraitSpec",
    "TraitType",
]

TraitType = Literal["number", "string", "date", "datetime", "enum", "bool"]


class ChangeKind(StrEnum):
    UPSERT = "upsert"  # set these traits on the profile (and unset the ones listed)
    ADD = "add"  # add the profile to the segment's list or audience
    REMOVE = "remove"  # remove it (only ever for memberships this connector added)


class OutcomeStatus(StrEnum):
    OK = "ok"
    RETRYABLE = "retryable"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class TraitSpec:
    """A trait we deliver: destinations create typed properties from it."""

    name: str
    type: TraitType
    label: str
    description: str = ""
    options: tuple[str, ...] = ()
    precision: int | None = None
    """Decimals a number is delivered with (2: a probability, 0: whole currency units); the
    planner does not re-send a value that moved by less than one unit of it."""


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """A segment a destination materialises as a list or audience."""

    id: str
    name: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who a change is about, with the identifiers destinations key on.

    ``ids`` holds per-source ids by identity kind (``hubspot_id``, ``klaviyo_id``,
    ``segment_user_id``...). ``match`` holds extra match keys for ad platforms (first_name,
    last_name, city, postal_code, country), raw: sinks normalise and hash them.
    ``other_emails`` are the person's addresses besides ``email`` (an address a source
    replaced, another source's): a sink keyed by address removes those too, since an earlier
    add went out under whichever address was current then. ``consent`` is the person's
    prevailing status per channel (``granted``, ``denied`` or ``unknown``; absent: not known
    here): a platform that takes consent per member (Google's Data Manager API) says only
    what was granted, never more. ``created`` names the kinds in ``ids`` whose platform record
    one of our destinations created: a sink may write such a record's address (the person's
    changed upstream), never that of a record the platform's own users keep.
    """

    profile_id: str
    email: str | None = None
    phone: str | None = None
    ids: Mapping[str, str] = field(default_factory=dict)
    match: Mapping[str, str] = field(default_factory=dict)
    other_emails: tuple[str, ...] = ()
    consent: Mapping[str, str] = field(default_factory=dict)
    created: frozenset[str] = frozenset()

    def readdressable(self, kind: str) -> bool:
        """Whether the platform record ``ids[kind]`` names is ours to move to ``email``: one
        of our destinations created it, and the person has had other addresses (theirs may
        have changed upstream). Sending the current address on every write of such a record
        costs nothing when it did not change."""
        return bool(
            self.email and self.other_emails and kind in self.created and self.ids.get(kind)
        )


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change. ``key`` and ``digest`` are what the ledger records on success.

    ``may_create`` false (the destination's ``mode = "update_only"``): an upsert must only
    update a record the platform already holds, never create one. ``clears``: an upsert that
    takes back everything delivered for the person (consent withdrawn, an erasure, a profile
    merged away or gone), whether or not anything was recorded as delivered, or a removal about
    a profile that is no longer live (erased, merged away or gone): a destination keyed by
    profile id removes the person's row, one that relays data onwards sends no contact
    details with it. ``moved``: an add of a membership the destination already holds, sent
    again because the person's e-mail changed (a hashed audience, keyed by address): the sink
    removes the rows of ``recipient.other_emails`` first, then adds the current one.
    ``merged_away``: a removal or a clearing upsert addressed to the platform record of a
    profile merged into another (``PlatformRecords``): the recipient's address is the
    survivor's, so the sink acts on that record by its id alone, never by address.
    """

    kind: ChangeKind
    recipient: Recipient
    key: str
    digest: str
    traits: Mapping[str, Any] = field(default_factory=dict)
    unset: tuple[str, ...] = ()
    segment: SegmentRef | None = None
    may_create: bool = True
    clears: bool = False
    moved: bool = False
    merged_away: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one change. ``learned_ids`` lets a sink report the platform's id."""

    status: OutcomeStatus
    reason: str = ""
    retry_after: float | None = None
    learned_ids: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def ok(cls, **learned: str) -> Outcome:
        return cls(OutcomeStatus.OK, learned_ids=learned)

    @classmethod
    def rejected(cls, reason: str) -> Outcome:
        return cls(OutcomeStatus.REJECTED, reason)

    @classmethod
    def retryable(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls(OutcomeStatus.RETRYABLE, reason, retry_after)
