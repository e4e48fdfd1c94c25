"""Meta Custom Audiences sink: one customer-file audience per segment, hashed multi-key rows.

Adds go as POST ``/{audience}/users`` with at most 10,000 rows; removals as DELETE with the
payload in the URL, so they are cut both at ``remove_batch_size`` rows and at ``max_url_bytes``
of encoded URL (facts/ads-segment-scheduling.md 1.3: 1,000 six-key rows already overflow common
URL limits). Identifiers are normalised and hashed by ``cdp_meta.identifiers``; a record with
nothing hashable is rejected alone. Audience ids live in ``PluginContext.state`` and are found
by name when the state is lost, so a segment never gets a second audience.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

from cdp_meta.client import AudienceGoneError, Graph
from cdp_meta.identifiers import meta_identifiers
from cdp_meta.limits import CUSTOM_AUDIENCE_CALLS, CUSTOM_AUDIENCE_WINDOW
from cdp_meta.lint import lint_audience_name
from cdp_meta.settings import MetaSettings
from cdp_meta.versions import expiry_warning
from connector.sdk import (
    Change,
    ChangeKind,
    Outcome,
    PluginContext,
    RateBudget,
    Recipient,
    RetryableError,
    RetryPolicy,
    SegmentRef,
    SinkBase,
    SkippableError,
    TraitSpec,
    deliver,
)

__all__ = ["MetaSink"]

_VALUE_KEY = "LOOKALIKE_VALUE"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Row:
    index: int  # position of the change in the apply() chunk
    values: tuple[str, ...]
    counted: bool = True  # false: a moved member's rows (the audience's size is unchanged)


class MetaSink(SinkBase):
    """Implements the ``Sink`` protocol for Meta Custom Audiences."""

    consent: Literal["email", "ads"] | None = "ads"

    def __init__(self, settings: MetaSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self.log = context.logger
        self.graph = Graph(settings)
        warning = expiry_warning(settings.api_version, datetime.now(UTC).date())
        if warning:
            self.log.warning(warning)
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_delay=settings.max_retry_seconds,
            on_retry=lambda exc, wait: self.log.info("Meta retry in %.1fs: %s", wait, exc),
        )
        self.budget = RateBudget(
            CUSTOM_AUDIENCE_CALLS, CUSTOM_AUDIENCE_WINDOW, name="meta.custom_audience"
        )
        self.audience_ids: dict[str, str] = {}
        self.segments: dict[str, SegmentRef] = {}
        self.last_match_rates: dict[str, float] = {}
        # Segments whose audience was found deleted; the core must forget their ledger
        # entries so the next run re-adds every member to the re-created audience.
        self.recreated_segments: set[str] = set()

    # ---- protocol -------------------------------------------------------------------------
    def accepts(self, recipient: Recipient) -> bool:
        """Meta matches only hashed identifiers of the configured match keys; a profile with
        none is skipped by the planner instead of planned (and rejected) every run."""
        ids = meta_identifiers(
            recipient.email,
            recipient.phone,
            recipient.match,
            default_region=self.context.default_region,
        )
        return any(ids.keys.get(k) for k in self.settings.match_keys)

    def batch_size(self, kind: str) -> int:
        if kind == ChangeKind.REMOVE:
            return self.settings.remove_batch_size
        return self.settings.add_batch_size

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        """Find or create the audience of every segment (state first, then by name)."""
        existing: dict[str, str] | None = None
        for segment in segments:
            self.segments[segment.id] = segment
            key = f"audience:{segment.id}"
            remembered = self.context.state.get(key)
            if remembered:
                self.audience_ids[segment.id] = remembered
                continue
            name = self.audience_name(segment)
            lint_audience_name(name, self.log)
            if existing is None:
                existing = {a["name"]: str(a["id"]) for a in self._call(self.graph.list_audiences)}
            audience_id = existing.get(name)
            if audience_id is None:
                audience_id = self._create(segment, name)
                self.log.info("created Meta audience %s for segment %s", audience_id, segment.id)
            self.context.state.put(key, audience_id)
            self.audience_ids[segment.id] = audience_id

    def _create(self, segment: SegmentRef, name: str) -> str:
        description = segment.description or f"Synced by cdp-connector from segment {segment.id}"
        return self._call(
            lambda: self.graph.create_audience(
                name,
                description,
                self.settings.customer_file_source,
                value_based=self._value_based(segment.id),
            )
        )

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        """Rows grouped per audience and kind; removals go first, so a moved member's rows
        under past addresses (``Change.moved``) are gone before the current one is added."""
        outcomes: list[Outcome | None] = [None] * len(changes)
        groups: dict[tuple[str, ChangeKind], list[_Row]] = {}
        for i, change in enumerate(changes):
            if change.kind is ChangeKind.UPSERT or change.segment is None:
                outcomes[i] = Outcome.rejected("Meta audiences take only add/remove changes")
                continue
            values = self._row(change)
            if isinstance(values, str):
                outcomes[i] = Outcome.rejected(values)
                continue
            group = groups.setdefault((change.segment.id, change.kind), [])
            group.append(_Row(i, values, counted=not change.moved))
            if change.kind is ChangeKind.REMOVE:
                group.extend(_Row(i, v) for v in self._past_rows(change))
            elif change.moved:
                past = groups.setdefault((change.segment.id, ChangeKind.REMOVE), [])
                past.extend(_Row(i, v, counted=False) for v in self._past_rows(change))
        removes_first = sorted(groups.items(), key=lambda g: g[0][1] is not ChangeKind.REMOVE)
        for (segment_id, kind), rows in removes_first:
            for batch in self._batches(rows, kind):
                for row, outcome in zip(batch, self._send(segment_id, kind, batch), strict=True):
                    current = outcomes[row.index]
                    if current is None or current.status == "ok":  # the worst row decides
                        outcomes[row.index] = outcome
            self._count_members(segment_id, kind, rows, outcomes)
        for segment_id, _ in groups:
            self._refresh_match_rate(segment_id)
        return [o if o is not None else Outcome.retryable("not sent") for o in outcomes]

    def close(self) -> None:
        """Release the SDK's requests.Session (its pooled sockets)."""
        self.graph.close()

    # ---- full replace ---------------------------------------------------------------------
    @property
    def replaces_members(self) -> bool:
        """With ``full_replace`` the runner hands over whole memberships (``replace_members``)."""
        return self.settings.full_replace

    def replace_members(self, segment: SegmentRef, members: Sequence[Change]) -> list[Outcome]:
        """Replace the audience's members with ``members`` through ``/usersreplace``.

        One session per call: batches of ≤``add_batch_size`` rows share a ``session_id``,
        ``batch_seq`` counts from 1 and the last batch carries ``last_batch_flag``, at which
        point Meta swaps the member set without resetting the ad sets' learning phase (the
        ``session`` parameter of the Custom Audience users edges, facebook-python-business-sdk
        ``CustomAudience.create_users_replace``; facts/ads-segment-scheduling.md 1.2). A session
        that fails part way is never finished, so Meta keeps the old members: the error goes up
        and the runner records every change of the segment as retryable.
        """
        audience_id = self.audience_ids.get(segment.id)
        if audience_id is None:
            return [Outcome.rejected(f"segment {segment.id} was not prepared")] * len(members)
        outcomes: list[Outcome] = []
        rows: list[tuple[str, ...]] = []
        for change in members:
            values = self._row_for(change.recipient, change.traits, segment.id)
            if isinstance(values, str):
                outcomes.append(Outcome.rejected(values))
                continue
            rows.append(values)
            outcomes.append(Outcome.ok())
        if not rows:  # nothing matchable: a replace needs rows; leave the audience alone
            return outcomes
        self._replace(audience_id, self._schema(segment.id), rows)
        self.context.state.put(f"members:{segment.id}", str(len(rows)))
        self._refresh_match_rate(segment.id)
        return outcomes

    def _replace(
        self, audience_id: str, schema: Sequence[str], rows: Sequence[tuple[str, ...]]
    ) -> None:
        session_id = random.getrandbits(62)  # chosen by the caller (int64), per session
        size = self.settings.add_batch_size
        batches = [rows[i : i + size] for i in range(0, len(rows), size)]
        for seq, batch in enumerate(batches, start=1):
            session = {
                "session_id": session_id,
                "batch_seq": seq,
                "last_batch_flag": seq == len(batches),
                "estimated_num_total": len(rows),
            }
            self._call(
                lambda b=batch, s=session: self.graph.users(  # type: ignore[misc]
                    "POST", audience_id, schema, b, edge="usersreplace", session=s
                )
            )

    # ---- helpers --------------------------------------------------------------------------
    def audience_name(self, segment: SegmentRef) -> str:
        return f"{self.settings.audience_prefix}{segment.name}"

    def _value_based(self, segment_id: str) -> bool:
        s = self.settings
        return bool(s.value_trait) and (not s.value_segments or segment_id in s.value_segments)

    def _schema(self, segment_id: str) -> tuple[str, ...]:
        keys = self.settings.match_keys
        return (*keys, _VALUE_KEY) if self._value_based(segment_id) else keys

    def _past_rows(self, change: Change) -> list[tuple[str, ...]]:
        """Rows for the person's other addresses: the member may have been added under one."""
        assert change.segment is not None  # noqa: S101 - checked by the caller
        rows = []
        for email in change.recipient.other_emails:
            values = self._row_for(
                Recipient(change.recipient.profile_id, email=email), {}, change.segment.id
            )
            if not isinstance(values, str):
                rows.append(values)
        return rows

    def _row(self, change: Change) -> tuple[str, ...] | str:
        assert change.segment is not None  # noqa: S101 - checked by the caller
        return self._row_for(change.recipient, change.traits, change.segment.id)

    def _row_for(
        self, recipient: Recipient, traits: Mapping[str, Any], segment_id: str
    ) -> tuple[str, ...] | str:
        """The hashed row in schema order, or the reason it cannot be sent."""
        ids = meta_identifiers(
            recipient.email,
            recipient.phone,
            recipient.match,
            default_region=self.context.default_region,
        )
        keys = self.settings.match_keys
        if not any(ids.keys.get(k) for k in keys):
            why = "; ".join(f"{k}: {r}" for k, r in ids.dropped.items()) or "none given"
            return f"no hashable identifier for Meta ({why})"
        row = ids.row(keys)
        if self._value_based(segment_id):
            row.append(self._value(traits))
        return tuple(row)

    def _value(self, traits: Mapping[str, Any]) -> str:
        raw: Any = (traits or {}).get(self.settings.value_trait or "")
        try:
            value = max(0.0, float(raw))
        except (TypeError, ValueError):
            value = 0.0  # Meta needs a non-negative number; unknown value ranks lowest
        return f"{value:.2f}"

    def _batches(self, rows: list[_Row], kind: ChangeKind) -> Iterable[list[_Row]]:
        """Cut by row count; removals also by encoded URL size (DELETE payload in the URL)."""
        limit = self.batch_size(kind)
        budget = self.settings.max_url_bytes - 600  # path, token and appsecret_proof
        batch: list[_Row] = []
        size = 0
        for row in rows:
            cost = len(quote(json.dumps(list(row.values), separators=(",", ":")))) + 3
            full = len(batch) >= limit or (kind is ChangeKind.REMOVE and size + cost > budget)
            if batch and full:
                yield batch
                batch, size = [], 0
            batch.append(row)
            size += cost
        if batch:
            yield batch

    def _send(self, segment_id: str, kind: ChangeKind, batch: list[_Row]) -> list[Outcome]:
        audience_id = self.audience_ids.get(segment_id)
        if audience_id is None:
            return [Outcome.rejected(f"segment {segment_id} was not prepared")] * len(batch)
        method = "POST" if kind is ChangeKind.ADD else "DELETE"
        schema = self._schema(segment_id)

        def send(rows: Sequence[_Row]) -> None:
            self.budget.acquire()
            receipt = self.graph.users(method, audience_id, schema, [r.values for r in rows])
            invalid = int(receipt.get("num_invalid_entries") or 0)
            if invalid:
                samples = ", ".join(list(receipt.get("invalid_entry_samples") or {})[:3])
                raise SkippableError(f"Meta counted {invalid} invalid row(s): {samples}")

        try:
            return deliver(batch, send, self.retry)
        except AudienceGoneError:
            # Deleted in Ads Manager: forget it so the next run's prepare() re-creates it.
            self.log.warning("Meta audience of segment %s no longer exists", segment_id)
            self.context.state.put(f"audience:{segment_id}", "")
            self.audience_ids.pop(segment_id, None)
            self.recreated_segments.add(segment_id)
            reason = "the Meta audience was deleted; it is re-created on the next run"
            return [Outcome.retryable(reason) for _ in batch]

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a non-membership Graph call under the budget and retry policy."""

        def once() -> T:
            self.budget.acquire()
            return fn()

        try:
            return self.retry.call(once)
        except SkippableError as exc:
            raise RetryableError(f"Meta refused an audience call: {exc.reason}") from None

    def _count_members(
        self, segment_id: str, kind: ChangeKind, rows: list[_Row], outcomes: list[Any]
    ) -> None:
        done = len(
            {
                r.index
                for r in rows
                if r.counted and outcomes[r.index] is not None and outcomes[r.index].status == "ok"
            }
        )
        key = f"members:{segment_id}"
        count = int(self.context.state.get(key) or 0)
        count = count + done if kind is ChangeKind.ADD else max(0, count - done)
        self.context.state.put(key, str(count))

    def _refresh_match_rate(self, segment_id: str) -> None:
        """Matched size (Meta's lower bound) over the members we uploaded."""
        audience_id = self.audience_ids.get(segment_id)
        uploaded = int(self.context.state.get(f"members:{segment_id}") or 0)
        if audience_id is None or uploaded == 0:
            return
        try:
            fields = self._call(
                lambda: self.graph.audience(audience_id, ["approximate_count_lower_bound"])
            )
        except RetryableError as exc:
            self.log.info("match rate of segment %s unavailable: %s", segment_id, exc)
            return
        matched = max(0, int(fields.get("approximate_count_lower_bound") or 0))
        self.last_match_rates[segment_id] = min(1.0, matched / uploaded)
