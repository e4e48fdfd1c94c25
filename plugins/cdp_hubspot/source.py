"""HubSpot source: contacts as profiles and closed-won deals as ``order_completed`` events.

Both streams are incremental through the CRM search API (contacts by ``lastmodifieddate``, deals
by ``hs_lastmodifieddate``; facts §2.1) and beat the 10,000-result cap with ``windowed_search``.
Deals carry no contact in search results, so each page of deals is joined to its contacts with
one associations v4 batch read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from cdp_hubspot.client import HubSpotClient
from cdp_hubspot.settings import HubSpotSettings
from cdp_hubspot.windowed import to_ms, windowed_search
from connector.sdk import PluginContext, SourceRecord, Stream

__all__ = ["CONTACT_PROPERTIES", "HubSpotSource", "contact_record", "deal_record"]

CONTACTS = Stream("contacts", "profiles", cursor="timestamp", cursor_field="updated_at")
DEALS = Stream("deals", "events", cursor="timestamp", cursor_field="updated_at")
CONTACT_PROPERTIES = [
    "email", "firstname", "lastname", "phone", "mobilephone", "city", "zip", "country",
    "lifecyclestage", "createdate", "lastmodifieddate", "hs_email_optout",
]  # fmt: skip
DEAL_PROPERTIES = [
    "dealname",
    "amount",
    "closedate",
    "dealstage",
    "pipeline",
    "deal_currency_code",
    "createdate",
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
            "deal_name": props.get("dealname"),
            "pipeline": props.get("pipeline"),
            "contact_ids": contacts,
        },
    }


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
        api = (
            self.client.sdk.crm.contacts if object_type == "contacts" else self.client.sdk.crm.deals
        )

        def run(body: dict[str, Any]) -> Any:
            return self.client.call(
                f"{object_type} search",
                lambda: api.search_api.do_search(
                    public_object_search_request=body, **self.client.timeout
                ),
                search=True,
            )

        return run

    def _contacts(self, since_ms: int | None) -> Iterator[SourceRecord]:
        pages = windowed_search(
            self._search("contacts"), "lastmodifieddate", since_ms,
            properties=CONTACT_PROPERTIES, extra_filters=[],
            page_size=self.settings.search_page_size,
        )  # fmt: skip
        for page in pages:
            for rid, props in page:
                yield contact_record(rid, props)

    def _deals(self, since_ms: int | None) -> Iterator[SourceRecord]:
        won = [{"propertyName": "dealstage", "operator": "EQ", "value": "closedwon"}]
        pages = windowed_search(
            self._search("deals"), "hs_lastmodifieddate", since_ms,
            properties=DEAL_PROPERTIES, extra_filters=won,
            page_size=self.settings.search_page_size,
        )  # fmt: skip
        for page in pages:
            people = self._deal_contacts([rid for rid, _ in page])
            for rid, props in page:
                if not people.get(rid):
                    self.skipped_deals += 1  # a deal with no contact names no one
                    continue
                yield deal_record(rid, props, people[rid])

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
