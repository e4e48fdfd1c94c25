"""HubSpot sink: traits as typed contact properties, segments as MANUAL lists.

Upserts go to ``batch/upsert`` with ``idProperty: email`` (100 inputs per call, no duplicate ids:
facts §2.2) or to ``batch/update`` by record id when we already know the contact's HubSpot id.
HubSpot refuses a whole batch with 400 for one bad input, so a refused batch is bisected (the
shared ``connector.sync.isolate``) until the bad record stands alone and is rejected with
HubSpot's own message while the rest land.
List memberships need record ids: those come from ``Recipient.ids["hubspot_id"]`` or, failing
that, from one batch read by email per 100 recipients (the learned ids go back to the core).
A change that may not create (``mode = "update_only"``) is only ever sent to ``batch/update``
by record id (looked up by email when unknown); a contact HubSpot does not hold is rejected.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any, Literal

from cdp_hubspot.client import HubSpotApiError, HubSpotClient
from cdp_hubspot.limits import BATCH_INPUTS
from cdp_hubspot.merged import own_records
from cdp_hubspot.privacy import gdpr_delete
from cdp_hubspot.provision import ensure_group, ensure_list, ensure_properties
from cdp_hubspot.settings import HubSpotSettings
from cdp_hubspot.traits import property_name, wire_value
from connector.sdk import (
    Change,
    ChangeKind,
    Outcome,
    PluginContext,
    Recipient,
    RetryableError,
    SegmentRef,
    SinkBase,
    TraitSpec,
    bisect,
)

__all__ = ["HubSpotSink"]

MEMBERSHIP_CHUNK = 1_000  # per add/remove call; HubSpot states no limit, 1,000 is conservative


class _Item:
    __slots__ = ("email", "index", "key", "may_create", "mode", "moves", "props")

    def __init__(
        self,
        index: int,
        mode: Literal["upsert", "update"],
        key: str,
        email: str | None,
        props: dict[str, str],
        may_create: bool = True,
        moves: bool = False,
    ) -> None:
        self.index, self.mode, self.key, self.email, self.props = index, mode, key, email, props
        self.may_create = may_create
        self.moves = moves  # the update moves our contact to the person's current address


_NOT_CREATED = "HubSpot holds no such contact and mode = update_only creates none"


class HubSpotSink(SinkBase):
    consent: Literal["email", "ads"] | None = "email"
    # two contacts of one person that HubSpot keeps apart stay two when our profiles merge
    # (``PlatformRecords``); a merge HubSpot made itself is told apart in ``own_records``
    record_kind = "hubspot_id"

    def __init__(self, settings: HubSpotSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self.client = HubSpotClient(settings, context.logger)
        self.traits: dict[str, TraitSpec] = {}
        self.list_ids: dict[str, str] = {}

    def accepts(self, recipient: Recipient) -> bool:
        """HubSpot matches contacts by email or record id; without either a change can never
        land, so the planner skips the profile instead of re-sending (and re-retrying) it every
        run."""
        return bool((recipient.email or "").strip() or recipient.ids.get("hubspot_id"))

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        """With ``gdpr_delete`` on, HubSpot deletes the person's contact; otherwise the removal
        from our lists was the erasure."""
        if not self.settings.gdpr_delete:
            return super().erase(recipients)
        return gdpr_delete(self.client, recipients)

    def known(self, recipient: Recipient) -> bool:
        """HubSpot holds the person when we know their record id (pulled or learned)."""
        return bool(recipient.ids.get("hubspot_id"))

    def batch_size(self, kind: str) -> int:
        return BATCH_INPUTS if kind == ChangeKind.UPSERT else MEMBERSHIP_CHUNK

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        self.traits = {t.name: t for t in traits}
        if traits:
            ensure_group(self.client, self.settings)
            ensure_properties(self.client, self.settings, traits)
        for segment in segments:
            self.list_ids[segment.id] = ensure_list(
                self.client, self.settings, self.context.state, segment
            )

    def close(self) -> None:
        self.list_ids.clear()

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(changes)
        changes = own_records(self.client, changes, outcomes)
        upserts = [
            i for i, c in enumerate(changes) if c.kind == ChangeKind.UPSERT and outcomes[i] is None
        ]
        if upserts:
            self._upserts(changes, upserts, outcomes)
        for kind in (ChangeKind.ADD, ChangeKind.REMOVE):
            picked = [i for i, c in enumerate(changes) if c.kind == kind and outcomes[i] is None]
            if picked:
                self._memberships(changes, picked, kind, outcomes)
        return [o if o is not None else Outcome.rejected("not handled") for o in outcomes]

    # ---- traits ---------------------------------------------------------------------------
    def _props(self, change: Change) -> dict[str, str]:
        props = {
            property_name(k): wire_value(self.traits.get(k), v) for k, v in change.traits.items()
        }
        props.update({property_name(k): "" for k in change.unset if k not in change.traits})
        return props

    def _upserts(
        self, changes: Sequence[Change], picked: list[int], outcomes: list[Outcome | None]
    ) -> None:
        rounds: list[list[_Item]] = []
        seen: list[set[str]] = []
        lookup = [
            changes[i].recipient.email or ""
            for i in picked
            if not changes[i].may_create and not changes[i].recipient.ids.get("hubspot_id")
        ]
        found = self._ids_by_email(lookup) if lookup else {}
        for i in picked:
            change = changes[i]
            hs_id, email = change.recipient.ids.get("hubspot_id"), change.recipient.email
            if not change.may_create and not hs_id:
                hs_id = found.get((email or "").strip().lower())
                if not hs_id:
                    outcomes[i] = Outcome.rejected(_NOT_CREATED)
                    continue
            if hs_id:
                props = self._props(change)
                # a contact we created, for a person whose address changed upstream, follows
                # them (its lists with it); a contact HubSpot's users keep is never re-addressed
                moves = change.recipient.readdressable("hubspot_id")
                if moves:
                    props["email"] = str(email)
                item = _Item(i, "update", str(hs_id), email, props, change.may_create, moves)
            elif email:
                item = _Item(i, "upsert", email.strip().lower(), email, self._props(change))
            else:
                outcomes[i] = Outcome.rejected("no email or HubSpot id to match a contact")
                continue
            # Duplicate ids in one batch are rejected (facts §2.2): repeats go in a later round.
            n = next(
                (r for r, keys in enumerate(seen) if f"{item.mode}:{item.key}" not in keys),
                len(seen),
            )
            if n == len(seen):
                rounds.append([])
                seen.append(set())
            rounds[n].append(item)
            seen[n].add(f"{item.mode}:{item.key}")
        for items in rounds:
            for mode in ("update", "upsert"):
                batch = [it for it in items if it.mode == mode]
                for start in range(0, len(batch), BATCH_INPUTS):
                    self._send(batch[start : start + BATCH_INPUTS], outcomes)

    def _send(self, items: list[_Item], outcomes: list[Outcome | None]) -> None:
        """Send one batch; a refused one is bisected until the bad input stands alone."""
        done = bisect(items, self._send_batch)
        for group, answers in done.accepted:
            for i, outcome in zip(group, answers, strict=True):
                outcomes[items[i].index] = outcome
        for i, exc in done.rejected.items():
            status = exc.status if isinstance(exc, HubSpotApiError) else 400
            outcomes[items[i].index] = Outcome.rejected(f"HubSpot {status}: {exc.reason}")
        for i, retryable in done.retryable.items():
            outcomes[items[i].index] = Outcome.retryable(str(retryable), retryable.retry_after)

    def _send_batch(self, items: Sequence[_Item]) -> list[Outcome]:
        it = items[0]
        if len(items) == 1 and it.mode == "update" and (it.email or not it.may_create):
            try:
                return self._written("update", items)
            except HubSpotApiError as exc:
                if it.moves and exc.category == "CONFLICT":
                    # another contact holds the new address (HubSpot keeps one contact per
                    # address): ours keeps its old one and still takes the traits
                    self.context.logger.warning(
                        "hubspot: a contact kept its old address: the new one belongs to "
                        "another contact"
                    )
                    kept = {k: v for k, v in it.props.items() if k != "email"}
                    return self._written("update", [_Item(it.index, "update", it.key, None, kept)])
                if not it.may_create or not it.email:
                    gone = exc.category == "OBJECT_NOT_FOUND"
                    return [Outcome.rejected(_NOT_CREATED if gone else f"HubSpot: {exc.reason}")]
                # The stored id no longer exists (merged or deleted contact): match by email.
                upsert = _Item(it.index, "upsert", it.email.strip().lower(), it.email, it.props)
                return self._written("upsert", [upsert])
        return self._written(it.mode, items)

    def _written(self, mode: str, items: Sequence[_Item]) -> list[Outcome]:
        """Write one batch; per item, ok with its record id or retryable if HubSpot omitted it."""
        result = self._write(mode, items)
        by_key: dict[str, str] = {}
        for row in result.results or []:
            by_key[str(row.id)] = str(row.id)
            row_email = (row.properties or {}).get("email")
            if row_email:
                by_key[str(row_email).lower()] = str(row.id)
        return [
            Outcome.ok(hubspot_id=by_key[it.key])
            if it.key in by_key
            else Outcome.retryable("HubSpot did not report this contact in the batch result")
            for it in items
        ]

    def _write(self, mode: str, items: Sequence[_Item]) -> Any:
        batch = self.client.sdk.crm.contacts.batch_api
        if mode == "update":
            body = {"inputs": [{"id": it.key, "properties": it.props} for it in items]}
            return self.client.call(
                "contacts batch update",
                lambda: batch.update(
                    batch_input_simple_public_object_batch_input=body, **self.client.timeout
                ),
            )
        body = {
            "inputs": [
                {"id": it.key, "idProperty": "email", "properties": it.props} for it in items
            ]
        }
        return self.client.call(
            "contacts batch upsert",
            lambda: batch.upsert(
                batch_input_simple_public_object_batch_input_upsert=body, **self.client.timeout
            ),
        )

    # ---- lists ----------------------------------------------------------------------------
    def _memberships(
        self,
        changes: Sequence[Change],
        picked: list[int],
        kind: ChangeKind,
        outcomes: list[Outcome | None],
    ) -> None:
        by_segment: dict[str, list[int]] = {}
        for i in picked:
            segment = changes[i].segment
            if segment is None:
                outcomes[i] = Outcome.rejected("membership change without a segment")
                continue
            if segment.id not in self.list_ids:
                self.list_ids[segment.id] = ensure_list(
                    self.client, self.settings, self.context.state, segment
                )
            by_segment.setdefault(segment.id, []).append(i)
        for segment_id, indexes in by_segment.items():
            try:
                self._membership_batch(changes, indexes, kind, self.list_ids[segment_id], outcomes)
            except RetryableError as exc:
                for i in indexes:
                    if outcomes[i] is None:
                        outcomes[i] = Outcome.retryable(str(exc), exc.retry_after)
            except HubSpotApiError as exc:  # e.g. the list became DYNAMIC
                for i in indexes:
                    if outcomes[i] is None:
                        outcomes[i] = Outcome.rejected(f"HubSpot {exc.status}: {exc.reason}")

    def _membership_batch(
        self,
        changes: Sequence[Change],
        indexes: list[int],
        kind: ChangeKind,
        list_id: str,
        outcomes: list[Outcome | None],
    ) -> None:
        ids: dict[int, str] = {}
        learned: set[int] = set()
        need_email = [i for i in indexes if not changes[i].recipient.ids.get("hubspot_id")]
        for i in indexes:
            if i not in need_email:
                ids[i] = str(changes[i].recipient.ids["hubspot_id"])
        found = self._ids_by_email([changes[i].recipient.email or "" for i in need_email])
        for i in need_email:
            rid = found.get((changes[i].recipient.email or "").strip().lower())
            if rid:
                ids[i] = rid
                learned.add(i)
            elif kind == ChangeKind.REMOVE:
                outcomes[i] = Outcome.ok()  # no such contact, so it is not in the list
            elif not (changes[i].recipient.email or "").strip():
                outcomes[i] = Outcome.rejected("no email or HubSpot id to match a contact")
            else:
                # Not created yet (its upsert failed or is still pending): try again next run.
                outcomes[i] = Outcome.retryable("no HubSpot contact with this email yet")
        missing = self._change_members(list_id, kind, sorted(set(ids.values()), key=int))
        retry = [
            i for i in ids if ids[i] in missing and i not in learned and changes[i].recipient.email
        ]
        if retry:  # a stale stored id: look the contact up by email once
            again = self._ids_by_email([changes[i].recipient.email or "" for i in retry])
            fresh = {
                i: again[(changes[i].recipient.email or "").lower()]
                for i in retry
                if (changes[i].recipient.email or "").lower() in again
            }
            if fresh:
                missing2 = self._change_members(list_id, kind, sorted(set(fresh.values()), key=int))
                missing = (missing - {ids[i] for i in fresh}) | missing2
                ids.update(fresh)
                learned.update(fresh)
        for i, rid in ids.items():
            if rid in missing and kind == ChangeKind.ADD:
                outcomes[i] = Outcome.rejected(f"HubSpot has no contact {rid}")
            else:
                outcomes[i] = Outcome.ok(hubspot_id=rid) if i in learned else Outcome.ok()

    def _change_members(self, list_id: str, kind: ChangeKind, record_ids: list[str]) -> set[str]:
        api = self.client.sdk.crm.lists.memberships_api
        missing: set[str] = set()
        for start in range(0, len(record_ids), MEMBERSHIP_CHUNK):
            chunk = record_ids[start : start + MEMBERSHIP_CHUNK]
            call = api.add if kind == ChangeKind.ADD else api.remove
            result = self.client.call(
                f"list membership {kind}",
                partial(call, list_id, request_body=chunk, **self.client.timeout),
            )
            missing.update(str(r) for r in result.record_ids_missing or [])
        return missing

    def _ids_by_email(self, emails: list[str]) -> dict[str, str]:
        wanted = sorted({e.strip().lower() for e in emails if e})
        out: dict[str, str] = {}
        for row in self.client.read_contacts(wanted, id_property="email", properties=["email"]):
            email = (row.properties or {}).get("email")
            if email:
                out[str(email).lower()] = str(row.id)
        return out
