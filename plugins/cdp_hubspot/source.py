"""HubSpot source: contacts as profiles and closed-won deals as ``order_completed`` events.

Both streams read the records modified since the cursor through the CRM search API with a window
frozen at the scan's start and keyset paging by id (``keyset_search``; nothing is skipped while
people edit the portal), then the records archived since the cursor (``archived=true`` reads):
an archived contact becomes a ``deleted`` tombstone, a merged-away id a ``merged_into`` record;
contacts deleted for good (GDPR) are found by a periodic reconciliation of ids (``reconcile``).
A deal is an order while its own ``hs_is_closed_won`` flag is set, whichever pipeline it is in;
a deal that left a closed-won stage (``hs_date_exited_<stage>`` of a won stage found in the
portal's pipelines at run time) or was archived replaces its order with ``order_cancelled`` under
the same event id, so the order stops counting. Deals carry no contact in search results, so
each page of deals is joined to its contacts with one associations v4 batch read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cdp_hubspot.client import HubSpotClient
from cdp_hubspot.lifecycle import MERGED, archived_since, merged_records, won_stage_ids
from cdp_hubspot.reconcile import silently_gone
from cdp_hubspot.settings import HubSpotSettings
from cdp_hubspot.windowed import Hit, keyset_search, now_ms, to_ms
from connector.sdk import PluginContext, SourceRecord, Stream

__all__ = ["CONTACT_PROPERTIES", "HubSpotSource", "cancel_record", "contact_record", "deal_record"]

CONTACTS = Stream("contacts", "profiles", cursor="timestamp", cursor_field="updated_at")
DEALS = Stream("deals", "events", cursor="timestamp", cursor_field="updated_at")
CONTACT_PROPERTIES = [
    "email", "firstname", "lastname", "phone", "mobilephone", "city", "zip", "country",
    "lifecyclestage", "createdate", "lastmodifieddate", "hs_email_optout", MERGED,
]  # fmt: skip
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "closedate",
    "dealstage",
    "pipeline",
    "deal_currency_code",
    "createdate",
    "hs_is_closed_won",
    "hs_lastmodifieddate",
]


def _consent(props: dict[str, Any]) -> dict[str, str]:
    # hs_email_optout is HubSpot's "unsubscribed from all email": true is an explicit denial.
    # False only says the contact has not opted out, which is no grant: it makes no statement,
    # so a grant or denial from another source (or the strict policy's default) decides.
    # Portals that market on legitimate interest set consent_policy = "not_denied".
    optout = str(props.get("hs_email_optout") or "").lower()
    return {"email": "denied"} if optout == "true" else {}


def contact_record(rid: str, props: dict[str, Any]) -> SourceRecord:
    consent = _consent(props)
    traits = {}
    if props.get("lifecyclestage"):
        traits["lifecycle_stage"] = props["lifecyclestage"]
    return {
        "source_id": rid,
        "ids": {"hubspot_id": rid},
        "email": props.get("email") or None,
        "phone": props.get("phone") or props.get("mobilephone") or None,
        "first_name": props.get("firstname") or None,
        "last_name": props.get("lastname") or None,
        "city": props.get("city") or None,
        "postal_code": props.get("zip") or None,
        "country": props.get("country") or None,
        "created_at": props.get("createdate") or None,
        "updated_at": props.get("lastmodifieddate"),
        "consent": consent,
        # An opt-out is dated by the contact's last change (the denial may be recent); the only
        # statement HubSpot makes here is a denial, see _consent.
        "consent_at": props.get("lastmodifieddate") if consent else None,
        "traits": traits,
    }


def deal_record(rid: str, props: dict[str, Any], contact_ids: list[str]) -> SourceRecord:
    """One event per deal, on its first associated contact (revenue is never double counted)."""
    contacts = sorted(contact_ids, key=int)
    amount = props.get("amount")
    return {
        "source_event_id": rid,
        "type": "order_completed",
        "occurred_at": props.get("closedate") or props.get("createdate"),
        "updated_at": props.get("hs_lastmodifieddate"),
        "ids": {"hubspot_id": contacts[0]},
        "revenue": amount if amount not in (None, "") else None,
        "currency": props.get("deal_currency_code") or None,
        "properties": {
            "order_id": rid,
            "deal_name": props.get("dealname"),
            "pipeline": props.get("pipeline"),
            "contact_ids": contacts,
        },
    }


def cancel_record(
    rid: str, props: dict[str, Any], contact_ids: list[str], *, at: str, reason: str
) -> SourceRecord:
    """The deal's order withdrawn: same event id, so the stored order is replaced."""
    contacts = sorted(contact_ids, key=int)
    return {
        "source_event_id": rid,
        "type": "order_cancelled",
        "occurred_at": at,
        "ids": {"hubspot_id": contacts[0]},
        "revenue": None,
        "currency": props.get("deal_currency_code") or None,
        "properties": {"order_id": rid, "reason": reason, "pipeline": props.get("pipeline")},
    }


def _is_won(props: dict[str, Any]) -> bool:
    return str(props.get("hs_is_closed_won") or "").lower() == "true"


def _left_won(props: dict[str, Any], exits: list[str]) -> str | None:
    """When the deal last left a closed-won stage, if it did."""
    dates = [str(props[e]) for e in exits if props.get(e)]
    return max(dates, key=to_ms) if dates else None


class HubSpotSource:
    def __init__(self, settings: HubSpotSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self.client = HubSpotClient(settings, context.logger)
        self.skipped_deals = 0

    def streams(self) -> Sequence[Stream]:
        return (CONTACTS, DEALS)

    def read(self, stream: Stream, since: str | None) -> Iterator[SourceRecord]:
        since_ms = to_ms(since) if since else None
        if stream.name == CONTACTS.name:
            yield from self._contacts(since_ms)
        elif stream.name == DEALS.name:
            yield from self._deals(since_ms)
        else:
            raise ValueError(f"unknown HubSpot stream {stream.name!r}")

    def _search(self, object_type: str) -> Any:
        api = getattr(self.client.sdk.crm, object_type)

        def run(body: dict[str, Any]) -> Any:
            return self.client.call(
                f"{object_type} search",
                lambda: api.search_api.do_search(
                    public_object_search_request=body, **self.client.timeout
                ),
                search=True,
            )

        return run

    def _pages(
        self, object_type: str, modified: str, since_ms: int | None, upper: int, props: list[str]
    ) -> Iterator[list[Hit]]:
        return keyset_search(
            self._search(object_type), modified, since_ms, upper,
            properties=props, extra_filters=[], page_size=self.settings.search_page_size,
        )  # fmt: skip

    def _contacts(self, since_ms: int | None) -> Iterator[SourceRecord]:
        upper = now_ms()  # the scan's frozen upper bound
        seen: list[str] = []
        reported: list[str] = []
        for page in self._pages(
            "contacts", "lastmodifieddate", since_ms, upper, CONTACT_PROPERTIES
        ):
            for rid, props in page:
                seen.append(rid)
                yield contact_record(rid, props)
                for gone in merged_records(rid, props):
                    reported.append(str(gone["source_id"]))
                    yield gone
        # Archived after the lower bound; on a first run, after this scan began (those before
        # were never read). No updated_at: a tombstone never moves the cursor.
        # (an archive in the scan's very millisecond counts as before it: it was not read)
        # The archived contact's own id goes with it (a contact archived before it was ever read
        # still stands for the person its deals name), and so do the ids merged into it: a merge's
        # survivor archived before a scan saw it is the only record of that merge.
        lower = since_ms if since_ms is not None else upper + 1
        for rid, props, at in archived_since(self.client, "contacts", lower, ["email", MERGED]):
            yield {
                "source_id": rid,
                "deleted": True,
                "deleted_at": to_iso_ms(at),
                "ids": {"hubspot_id": rid},
            }
            for gone in merged_records(rid, props):
                reported.append(str(gone["source_id"]))
                yield gone
            reported.append(rid)
        every = timedelta(hours=self.settings.contact_reconcile_hours)
        yield from silently_gone(
            self.client, self.context.state, every, seen=seen, reported=reported
        )

    def _deals(self, since_ms: int | None) -> Iterator[SourceRecord]:
        upper = now_ms()
        exits = [f"hs_date_exited_{stage}" for stage in won_stage_ids(self.client)]
        props = [*DEAL_PROPERTIES, *exits]
        for page in self._pages("deals", "hs_lastmodifieddate", since_ms, upper, props):
            yield from self._deal_events(page, exits, archived_at={})
        lower = since_ms if since_ms is not None else upper
        gone: list[Hit] = []
        archived_at: dict[str, int] = {}
        for rid, p, at in archived_since(self.client, "deals", lower, props):
            gone.append((rid, p))
            archived_at[rid] = at
        for start in range(0, len(gone), self.settings.search_page_size):
            chunk = gone[start : start + self.settings.search_page_size]
            yield from self._deal_events(chunk, exits, archived_at=archived_at)

    def _deal_events(
        self, page: list[Hit], exits: list[str], *, archived_at: dict[str, int]
    ) -> Iterator[SourceRecord]:
        """Orders and withdrawn orders of one page of deals (live, or archived with their time)."""
        # an archived deal that never was won had no order to withdraw
        relevant = [(rid, p) for rid, p in page if _is_won(p) or _left_won(p, exits)]
        if not relevant:
            return
        people = self._deal_contacts([rid for rid, _ in relevant])
        for rid, props in relevant:
            if not people.get(rid):
                self.skipped_deals += 1  # a deal with no contact names no one
                continue
            if rid in archived_at:
                at = to_iso_ms(archived_at[rid])
                yield cancel_record(rid, props, people[rid], at=at, reason="deleted")
            elif _is_won(props):
                yield deal_record(rid, props, people[rid])
            else:
                left = _left_won(props, exits) or str(props.get("hs_lastmodifieddate"))
                record = cancel_record(rid, props, people[rid], at=left, reason="left_closed_won")
                record["updated_at"] = props.get("hs_lastmodifieddate")
                yield record

    def _deal_contacts(self, deal_ids: list[str]) -> dict[str, list[str]]:
        batch = self.client.sdk.crm.associations.v4.batch_api
        body = {"inputs": [{"id": rid} for rid in deal_ids]}
        result = self.client.call(
            "deal associations",
            lambda: batch.get_page(
                from_object_type="deals",
                to_object_type="contacts",
                batch_input_public_fetch_associations_batch_request=body,
                **self.client.timeout,
            ),
        )
        out: dict[str, list[str]] = {}
        for row in result.results or []:
            out[str(row._from.id)] = [str(t.to_object_id) for t in row.to or []]
        return out

    def close(self) -> None:
        self.skipped_deals = 0


def to_iso_ms(ms: int) -> str:
    stamp = datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
