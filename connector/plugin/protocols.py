"""The roles a plugin fills: ``Source``, ``Sink`` and ``Emulator``, with every hook declared.

``Sink`` names its required members and its optional hooks alike; ``SinkBase`` gives the hooks
their defaults, so a plugin sink inherits it and writes only what it needs. A sink that does not
inherit it satisfies ``Sink`` structurally by declaring every member itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType, TracebackType
from typing import Any, Literal, Protocol, Self, TypeAlias, TypeVar, runtime_checkable

import pyarrow as pa

from connector.plugin.changes import Change, Outcome, Recipient, SegmentRef, TraitSpec

__all__ = [
    "OPTIONAL_SINK_HOOKS",
    "CheckRole",
    "ConnectionCheck",
    "ConnectionChecker",
    "ConsentChannel",
    "ConsentPolicy",
    "Emulator",
    "KeyValueState",
    "LiveSource",
    "PagedSource",
    "PlatformRecords",
    "ReplacesMembers",
    "Sink",
    "SinkBase",
    "Source",
    "SourcePage",
    "SourceRecord",
    "Stream",
]

SourceRecord = dict[str, Any]
"""A record in the canonical input layout (see ``connector.schema.records``)."""

SourcePage: TypeAlias = pa.RecordBatch
"""A page of records as one Arrow record batch, in the flat canonical layout: a column per
canonical key, nested keys spelled with dots (``ids.hubspot_id``, ``traits.plan``,
``consent.email``), ``properties`` as JSON text; a null or empty cell is an absent value."""

ConsentChannel = Literal["email", "ads"]
ConsentPolicy = Literal["strict", "not_denied"]
"""``strict`` needs a recorded grant; ``not_denied`` lets unknown consent through."""


@dataclass(frozen=True, slots=True)
class Stream:
    """One incremental stream of a source.

    ``cursor`` says how the core treats the high-water mark: ``timestamp`` marks are ISO-8601
    UTC strings that get the configured lookback subtracted; ``opaque`` marks (file names, day
    folders) are compared as strings with no lookback; ``none`` streams are re-read in full.
    ``cursor_field`` names the key of each record that carries its mark. ``lookback`` is the
    stream's own default lookback, for platforms whose records arrive later than the source's
    lookback allows (Klaviyo events: backfills and delayed integrations); the longer of the two
    applies unless the source's config sets ``stream_lookback`` for the stream.
    """

    name: str
    kind: Literal["profiles", "events"]
    cursor: Literal["timestamp", "opaque", "none"] = "timestamp"
    cursor_field: str = "updated_at"
    lookback: timedelta | None = None


class Source(Protocol):
    """Yields canonical records of a stream from an inclusive lower bound (``since``)."""

    def streams(self) -> Sequence[Stream]: ...

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]: ...

    def close(self) -> None: ...


@runtime_checkable
class LiveSource(Source, Protocol):
    """A source whose live events ``connector stream`` tails as they arrive (the Segment
    webhook spool, lines appended to event files).

    ``live_streams`` names the event streams that can be tailed (empty: none configured);
    ``tail`` yields the canonical records that arrived strictly after ``after`` (None: from the
    start of what the source still holds), each carrying ``_cursor``: an opaque mark that, given
    back as ``after``, resumes right after that record. ``tail`` returns when it has nothing
    more for now (the stream calls it again); it never deletes anything, so a crash before the
    stream commits a mark re-reads from the last committed one.
    """

    def live_streams(self) -> Sequence[Stream]: ...

    def tail(self, stream: Stream, after: str | None) -> Iterator[SourceRecord]: ...


@runtime_checkable
class PagedSource(Source, Protocol):
    """A source that can also hand over whole pages: ``read_pages`` yields ``SourcePage``
    batches, records (dicts) where a page will not do (a line that could not be parsed, as an
    ``_invalid`` record), or both, in stream order; the same records ``read`` yields.

    The core reads a source through ``read_pages`` when it has one: event pages are validated
    and stored in bulk, without a Python object per record (issue 14). ``read`` stays the
    record-at-a-time contract the conformance kit and tests use.
    """

    def read_pages(
        self, stream: Stream, since: str | None
    ) -> Iterator[SourceRecord | SourcePage]: ...


class Sink(Protocol):
    """Receives planned changes in batches and reports an outcome per change.

    Required: ``consent`` names the consent channel list memberships require (``"email"`` for
    email lists, ``"ads"`` for ad audiences, ``None`` when membership is not an activation);
    ``batch_size(kind)`` is the platform's documented batch limit for that kind of change;
    ``prepare`` runs once per apply (create properties, find or create lists); ``apply`` must
    return exactly one ``Outcome`` per change, in order, and never raise for one bad record.

    Optional (``SinkBase`` has the defaults): ``trait_consent``, the channel a profile's traits
    require (a destination that relays them onwards, such as Segment to ad tools; a withdrawn
    profile's traits are cleared there); ``consent_policy``, used when the destination's config
    sets none; ``accepts``, whether the platform can key a recipient at all (those it cannot are
    skipped, not sent); ``known``, whether the platform already holds the recipient's record
    (True: an upsert updates it; False: it would create one; None: the destination keeps no
    records of people, e.g. an audience or a file), which the plan shows as creates vs updates
    and ``mode = "update_only"`` acts on; and, read after apply, ``last_match_rates`` (an ad
    platform's reported match rate per segment, recorded with the run) and
    ``recreated_segments`` (audiences the platform lost and the sink re-created: the ledger
    forgets them so the next run re-fills them);
    ``erase``, called for people a privacy request erases once every list and audience here has
    removed them: a sink whose platform has a privacy API (and whose user turned it on) asks the
    platform to delete the person there; the default does nothing more (removal from our lists
    is the erasure). One ``Outcome`` per recipient; a retryable one is asked again next run.
    """

    consent: ConsentChannel | None
    trait_consent: ConsentChannel | None
    consent_policy: ConsentPolicy

    def batch_size(self, kind: str) -> int: ...

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None: ...

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]: ...

    def close(self) -> None: ...

    def accepts(self, recipient: Recipient) -> bool: ...

    def known(self, recipient: Recipient) -> bool | None: ...

    @property
    def last_match_rates(self) -> Mapping[str, float]: ...

    @property
    def recreated_segments(self) -> Collection[str]: ...

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]: ...


@runtime_checkable
class ReplacesMembers(Sink, Protocol):
    """A sink that can swap a segment's whole membership in one platform session (Meta's
    ``/usersreplace``). While ``replaces_members`` is true, the runner hands it, per segment
    with any add or remove this run, every member the segment should hold (ADD changes, one
    ``Outcome`` back per member); the sink raises ``RetryableError`` when the session failed,
    which leaves the platform's members as they were."""

    @property
    def replaces_members(self) -> bool: ...

    def replace_members(
        self, segment: SegmentRef, members: Sequence[Change]
    ) -> Sequence[Outcome]: ...


@runtime_checkable
class RowsPerProfile(Sink, Protocol):
    """A sink whose records are keyed by our profile id (a file export), not by an address
    or a platform id: when two profiles merge, the merged-away one's row is a record of its
    own, so its memberships are removed and its traits cleared instead of being handed to
    the survivor; so are those of a profile whose every source record is gone."""

    @property
    def rows_per_profile(self) -> bool: ...


@runtime_checkable
class PlatformRecords(Sink, Protocol):
    """A sink whose records are the platform's own, named by ids of ``record_kind``
    (Klaviyo: ``klaviyo_id``, HubSpot: ``hubspot_id``), which two profiles keep apart when they
    merge. A profile merged into another that still has a record of its own of that kind (the
    platform holds two records of one person: ``DesiredState.retired_ids``) has its
    memberships removed and its traits cleared through that record (``Change.merged_away``),
    instead of handing them to the survivor, whose own record holds them: the person is on
    each list once. A platform that can merge the records itself must check the record is
    still its own before acting (HubSpot: a merged-away id reads as the merged record, which
    is the survivor's)."""

    @property
    def record_kind(self) -> str: ...


class SinkBase(Sink):
    """The optional hooks' defaults: traits need no consent, strict policy, every recipient
    accepted, nothing to report after apply. Subclasses still write the four required members."""

    trait_consent: ConsentChannel | None = None
    consent_policy: ConsentPolicy = "strict"
    last_match_rates: Mapping[str, float] = MappingProxyType({})
    recreated_segments: Collection[str] = frozenset()

    def accepts(self, recipient: Recipient) -> bool:
        return True

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        """No privacy API: removing the person from our lists and audiences was the erasure."""
        return [Outcome.ok() for _ in recipients]

    def known(self, recipient: Recipient) -> bool | None:
        return None


OPTIONAL_SINK_HOOKS = (
    "trait_consent",
    "consent_policy",
    "accepts",
    "known",
    "last_match_rates",
    "recreated_segments",
    "erase",
)


@runtime_checkable
class KeyValueState(Protocol):
    """A plugin's own small persistent memory (e.g. list ids it created), namespaced per plugin."""

    def get(self, key: str) -> str | None: ...

    def put(self, key: str, value: str) -> None: ...

    def items(self, prefix: str = "") -> Mapping[str, str]: ...


CheckRole = Literal["source", "sink"]
SettingsT_contra = TypeVar("SettingsT_contra", contravariant=True)


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """What one authenticated call that reads nothing sensitive found, for ``connector check``.

    ``host`` is where the call went (host and port, never a token); ``status`` the HTTP status
    (``None`` when nothing answered); ``detail`` what happened and ``fix`` what the operator
    should change, both in words, naming the setting to edit.
    """

    what: str
    host: str
    ok: bool
    status: int | None = None
    detail: str = ""
    fix: str = ""


class ConnectionChecker(Protocol[SettingsT_contra]):
    """A plugin's connection check: quick (a short timeout, no retries) and side-effect free.

    Called with the validated settings, the context and the role the instance plays (a source
    and a sink of one platform may need different permissions); returns one result per
    endpoint it tried, and never raises for a refused or unreachable platform.
    """

    def __call__(
        self, settings: SettingsT_contra, context: Any, role: CheckRole, /
    ) -> Sequence[ConnectionCheck]: ...


class Emulator(Protocol):
    """A local fake of a platform: a context manager that serves on 127.0.0.1."""

    @property
    def base_url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
