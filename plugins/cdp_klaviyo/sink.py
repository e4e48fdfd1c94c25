"""Klaviyo destination: traits as custom properties through bulk import jobs, segments as lists.

Upserts go out in as few jobs as the limits allow (10,000 profiles, 5 MB) and are polled to
completion; a profile the import refused becomes a rejected outcome with Klaviyo's reason, and
only that one; one refused because its learned Klaviyo id names a profile deleted since is
sent again by its identifiers and its new id learned. Memberships are written by Klaviyo
profile id; a recipient Klaviyo does not know yet is imported straight into the list (the
job's list relationship creates and adds it); removing a profile deleted in Klaviyo since is
done (it is in no list).
Every request is paced by the endpoint's rate budget and retried honouring ``Retry-After``.
A change that may not create (``mode = "update_only"``) is imported only keyed by a Klaviyo id
(looked up by email, phone or external id when unknown); one Klaviyo does not hold is rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

from cdp_klaviyo.bulk import ImportResult, ImportRunner, profile_payload
from cdp_klaviyo.client import KlaviyoClient, KlaviyoRequestError
from cdp_klaviyo.limits import IMPORT_MAX_PROFILES, LIST_MEMBERS_PER_CALL
from cdp_klaviyo.lists import ListManager, profile_gone
from cdp_klaviyo.privacy import request_deletions
from cdp_klaviyo.resolve import resolve_ids
from cdp_klaviyo.settings import KlaviyoSettings
from connector.sdk import (
    Change,
    ChangeKind,
    Outcome,
    PluginContext,
    Recipient,
    RetryableError,
    SegmentRef,
    SinkBase,
    SkippableError,
    TraitSpec,
)

__all__ = ["KlaviyoSink"]

_NOT_CREATED = "Klaviyo holds no such profile and mode = update_only creates none"


class KlaviyoSink(SinkBase):
    consent: Literal["email", "ads"] | None = "email"
    # two profiles of one person stay two in Klaviyo when our profiles merge (``PlatformRecords``)
    record_kind = "klaviyo_id"

    def __init__(
        self, settings: KlaviyoSettings, ctx: PluginContext, client: KlaviyoClient | None = None
    ) -> None:
        self.settings = settings
        self.ctx = ctx
        self.client = client or KlaviyoClient(settings)
        self.imports = ImportRunner(
            self.client, poll_interval=settings.poll_interval, job_timeout=settings.job_timeout
        )
        self.lists = ListManager(self.client, ctx.state, settings.list_prefix)
        self.segments: dict[str, SegmentRef] = {}
        # Klaviyo ids this sink's own writes learned in this run. The plan addressed the run's
        # list changes before those writes, so without this every list change of a first run
        # looked its people up again (one get_profiles call per 100, the slowest budget).
        self.learned: dict[str, str] = {}

    def accepts(self, recipient: Recipient) -> bool:
        """Klaviyo finds a profile by its id, email, phone or external id; without any the
        planner skips the profile instead of planning (and rejecting) it every run."""
        try:
            profile_payload(recipient, {}, ())
        except SkippableError:
            return False
        return True

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        """With ``privacy_deletion`` on, Klaviyo deletes the person's profiles; otherwise the
        removal from our lists was the erasure."""
        if not self.settings.privacy_deletion:
            return super().erase(recipients)
        return request_deletions(self.client, recipients)

    def known(self, recipient: Recipient) -> bool:
        """Klaviyo holds the person when we know their profile id (pulled or learned)."""
        return bool(recipient.ids.get("klaviyo_id"))

    def batch_size(self, kind: str) -> int:
        return IMPORT_MAX_PROFILES if kind == ChangeKind.UPSERT else LIST_MEMBERS_PER_CALL

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        # Klaviyo custom properties need no schema (facts 3.2): only lists are prepared.
        for segment in segments:
            self.segments[segment.id] = segment
            self.lists.ensure(segment)

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        if not changes:
            return []
        if changes[0].kind == ChangeKind.UPSERT:
            return self._upsert(changes)
        outcomes: list[Outcome | None] = [None] * len(changes)
        by_segment: dict[str, list[int]] = {}
        for i, change in enumerate(changes):
            if change.segment is None:
                outcomes[i] = Outcome.rejected("membership change without a segment")
            else:
                self.segments.setdefault(change.segment.id, change.segment)
                by_segment.setdefault(change.segment.id, []).append(i)
        for segment_id, indexes in by_segment.items():
            self._membership(
                self.segments[segment_id], [changes[i] for i in indexes], indexes, outcomes
            )
        return [o or Outcome.retryable("not attempted") for o in outcomes]

    def close(self) -> None:
        self.client.api.api_client.rest_client.pool_manager.clear()

    # ---- traits ---------------------------------------------------------------------------
    def _existing_only(self, changes: Sequence[Change]) -> list[Change | None]:
        """Changes that may not create keyed by a Klaviyo id (None: Klaviyo holds no such
        profile); the others as they are."""
        lookup = [c.recipient for c in changes if not c.may_create and not self.known(c.recipient)]
        ids = resolve_ids(self.client, lookup) if lookup else {}
        out: list[Change | None] = []
        for c in changes:
            r = c.recipient
            if c.may_create or self.known(r):
                out.append(c)
            elif r.profile_id in ids:
                out.append(
                    replace(c, recipient=replace(r, ids={**r.ids, "klaviyo_id": ids[r.profile_id]}))
                )
            else:
                out.append(None)
        return out

    def _upsert(self, sent: Sequence[Change]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(sent)
        keyed = self._existing_only(sent)
        changes = [c or sent[i] for i, c in enumerate(keyed)]
        payloads = []
        for i, change in enumerate(changes):
            if keyed[i] is None:
                outcomes[i] = Outcome.rejected(_NOT_CREATED)
                continue
            try:
                payloads.append((i, profile_payload(change.recipient, change.traits, change.unset)))
            except SkippableError as exc:
                outcomes[i] = Outcome.rejected(exc.reason)
        recipients = [c.recipient for c in changes]
        result = self.imports.run(payloads)
        self._rekey_stale(changes, recipients, result)
        self._keep_address(changes, recipients, result)
        for i, reason in result.rejected.items():
            # traits taken back from a profile gone since: nothing is left to clear
            gone = changes[i].clears and profile_gone(reason)
            outcomes[i] = Outcome.ok() if gone else Outcome.rejected(reason)
        for i, reason in result.retryable.items():
            outcomes[i] = outcomes[i] or Outcome.retryable(reason)
        landed = [recipients[i] for i, o in enumerate(outcomes) if o is None]
        unknown = [r for r in landed if not r.ids.get("klaviyo_id")]
        learned = {
            r.profile_id: r.ids["klaviyo_id"]
            for c, r in zip(sent, (c.recipient for c in changes), strict=True)
            if r.ids.get("klaviyo_id") and not c.recipient.ids.get("klaviyo_id")
        }
        ids: dict[str, str] = {**learned, **self._learn(unknown)}
        self.learned.update(ids)
        final: list[Outcome] = []
        for change, outcome in zip(changes, outcomes, strict=True):
            if outcome is not None:
                final.append(outcome)
            elif change.recipient.profile_id in ids:
                final.append(Outcome.ok(klaviyo_id=ids[change.recipient.profile_id]))
            else:
                final.append(Outcome.ok())
        return final

    def _learn(self, unknown: Sequence[Recipient]) -> dict[str, str]:
        """Klaviyo ids of profiles just written (the core keeps the ones we created)."""
        if not unknown:
            return {}
        try:
            return resolve_ids(self.client, unknown)
        except (RetryableError, SkippableError) as exc:
            # The write landed; only learning the ids failed. The next run looks them up.
            self.ctx.logger.warning("klaviyo: could not look up profile ids: %s", exc)
            return {}

    def _rekey_stale(
        self, changes: Sequence[Change], recipients: list[Recipient], result: ImportResult
    ) -> None:
        """Send again, by identifiers, the changes whose learned Klaviyo id is gone."""
        stale = self._stale_ids(changes, result.rejected)
        self._send_again(changes, recipients, result, stale, _without_klaviyo_id)

    def _keep_address(
        self, changes: Sequence[Change], recipients: list[Recipient], result: ImportResult
    ) -> None:
        """Send again, keyed by id alone, the changes that moved our profile to an address
        another Klaviyo profile holds: the traits land, the profile keeps its old address."""
        taken = [
            i
            for i, reason in result.rejected.items()
            if reason.startswith("duplicate_profile") and recipients[i].readdressable("klaviyo_id")
        ]
        if taken:
            self.ctx.logger.warning(
                "klaviyo: %d profile(s) kept their old address: the new one belongs to "
                "another Klaviyo profile",
                len(taken),
            )
        self._send_again(
            changes, recipients, result, taken, lambda r: replace(r, created=frozenset())
        )

    def _send_again(
        self,
        changes: Sequence[Change],
        recipients: list[Recipient],
        result: ImportResult,
        picked: Sequence[int],
        readdressed: Callable[[Recipient], Recipient],
    ) -> None:
        """Import the ``picked`` refused changes once more, to ``readdressed`` recipients;
        their new outcomes replace the refusals in ``result``."""
        if not picked:
            return
        redo = []
        for i in picked:
            recipients[i] = readdressed(recipients[i])
            redo.append((i, profile_payload(recipients[i], changes[i].traits, changes[i].unset)))
            del result.rejected[i]
        again = self.imports.run(redo)
        result.rejected.update(again.rejected)
        result.retryable.update(again.retryable)

    @staticmethod
    def _stale_ids(changes: Sequence[Change], rejected: dict[int, str]) -> list[int]:
        """Changes refused because their learned Klaviyo id names a profile gone since, for
        people Klaviyo can still find by email, phone or external id. Never a change that
        takes traits back (``clears``): the recipient's addresses may be another record's
        (a merged-away profile's survivor), whose traits it would clear."""
        return [
            i
            for i, reason in rejected.items()
            if profile_gone(reason)
            and not changes[i].clears
            and changes[i].recipient.ids.get("klaviyo_id")
            and (
                changes[i].recipient.email
                or changes[i].recipient.phone
                or changes[i].recipient.ids.get("external_id")
            )
        ]

    # ---- list membership ------------------------------------------------------------------
    def _membership(
        self,
        segment: SegmentRef,
        changes: Sequence[Change],
        indexes: Sequence[int],
        outcomes: list[Outcome | None],
    ) -> None:
        kind = changes[0].kind
        try:
            list_id = self.lists.ensure(segment)
            ids = resolve_ids(self.client, [self._with_learned(c.recipient) for c in changes])
        except RetryableError as exc:
            for i in indexes:
                outcomes[i] = Outcome.retryable(str(exc), exc.retry_after)
            return
        known = [
            (i, c) for i, c in zip(indexes, changes, strict=True) if c.recipient.profile_id in ids
        ]
        missing = [
            (i, c)
            for i, c in zip(indexes, changes, strict=True)
            if c.recipient.profile_id not in ids
        ]
        profile_ids = [ids[c.recipient.profile_id] for _, c in known]
        try:
            rejected, retryable = self.lists.change(list_id, kind, profile_ids)
        except KlaviyoRequestError as exc:
            if exc.status != 404:
                raise
            # The list was deleted in Klaviyo since we stored its id: find or create it again.
            list_id = self.lists.ensure(segment, refresh=True)
            rejected, retryable = self.lists.change(list_id, kind, profile_ids)
        missing = list(missing)
        for n, (i, change) in enumerate(known):
            if n in rejected and kind == ChangeKind.REMOVE and profile_gone(rejected[n]):
                outcomes[i] = Outcome.ok()  # deleted in Klaviyo since: it is in no list
            elif n in rejected and profile_gone(rejected[n]):
                self.learned.pop(change.recipient.profile_id, None)
                # the learned id was merged away or deleted since: add the person by identifiers
                missing.append(
                    (
                        i,
                        dataclasses.replace(
                            change, recipient=_without_klaviyo_id(change.recipient)
                        ),
                    )
                )
            elif n in rejected:
                outcomes[i] = Outcome.rejected(rejected[n])
            elif n in retryable:
                outcomes[i] = Outcome.retryable(retryable[n])
            else:
                outcomes[i] = Outcome.ok(klaviyo_id=ids[change.recipient.profile_id])
        if kind == ChangeKind.REMOVE:
            for i, _ in missing:
                outcomes[i] = Outcome.ok()  # Klaviyo has no such profile: it is in no list
            return
        self._import_into_list(list_id, missing, outcomes)

    def _import_into_list(
        self, list_id: str, missing: Sequence[tuple[int, Change]], outcomes: list[Outcome | None]
    ) -> None:
        payloads = []
        for n, (i, change) in enumerate(missing):
            try:
                payloads.append((n, profile_payload(change.recipient, {}, ())))
            except SkippableError as exc:
                outcomes[i] = Outcome.rejected(exc.reason)
        if not payloads:
            return
        result = self.imports.run(payloads, [list_id])
        landed: dict[int, Recipient] = {}
        for n, (i, change) in enumerate(missing):
            if outcomes[i] is not None:
                continue
            if n in result.rejected:
                outcomes[i] = Outcome.rejected(result.rejected[n])
            elif n in result.retryable:
                outcomes[i] = Outcome.retryable(result.retryable[n])
            else:
                landed[i] = change.recipient
        ids = self._learn(list(landed.values()))  # the import may have created them
        self.learned.update(ids)
        for i, r in landed.items():
            pid = r.profile_id
            outcomes[i] = Outcome.ok(klaviyo_id=ids[pid]) if pid in ids else Outcome.ok()

    def _with_learned(self, recipient: Recipient) -> Recipient:
        learned = self.learned.get(recipient.profile_id)
        if learned is None or recipient.ids.get("klaviyo_id"):
            return recipient
        return dataclasses.replace(recipient, ids={**recipient.ids, "klaviyo_id": learned})


def _without_klaviyo_id(recipient: Recipient) -> Recipient:
    ids = {k: v for k, v in recipient.ids.items() if k != "klaviyo_id"}
    return dataclasses.replace(recipient, ids=ids)
