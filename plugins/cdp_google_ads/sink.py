"""Google Customer Match sink over the Data Manager API (httpx, JSON over REST).

Since April 2026 new Customer Match integrations must use the Data Manager API, not the Google
Ads API job flow (FACTS.md). Each request carries ≤10,000 audience members, hex-encoded SHA-256
identifiers (``encoding: HEX``), consent per member and, on ingest, the Customer Match
terms-of-service status. Consent goes per member because the planner's ``not_denied`` policy
also sends people who never said yes: only a recorded ads grant is sent as CONSENT_GRANTED
(``adUserData`` and ``adPersonalization``); anyone else's consent is left unspecified, never
claimed. The API answers with a ``requestId``; processing is
asynchronous, so after sending the sink polls ``requestStatus:retrieve`` and turns a FAILED
request into retryable outcomes. A 400 names bad members in ``google.rpc.BadRequest`` field
violations (``audience_members[3]...``): those are rejected and the rest re-sent.

Which list a segment goes to: its ``user_lists`` entry (an explicit override), else the id this
destination remembered for it (plugin state ``user_list:<segment id>``), else, with
``create_user_lists``, a Customer Match list named ``list_name_prefix + segment name`` that the
sink finds by name or creates through the Data Manager API's UserListService
(``datamanager_lists.py``; the Google Ads API route of ``lists.py`` with ``user_list_api =
"google_ads"``) and then remembers. A lost
state therefore finds the same list again instead of creating a duplicate. When Google refuses
to create a list, that segment's changes are rejected with Google's message (or left retryable
when Google stayed unavailable) and the other segments carry on.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from cdp_google_ads.client import ACTIONS, TokenSource, send_authorised
from cdp_google_ads.datamanager_lists import DataManagerLists
from cdp_google_ads.identifiers import google_identifiers
from cdp_google_ads.limits import DATA_MANAGER_CALLS, DATA_MANAGER_WINDOW
from cdp_google_ads.lists import UserLists
from cdp_google_ads.settings import GoogleAdsSettings
from connector.sdk import (
    Action,
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
    action_for,
    deliver,
    error_for,
    json_body,
    json_object,
    parse_retry_after,
)

__all__ = ["GoogleAdsSink", "RowErrors"]

# Member-level consent (Data Manager API ``Consent``; its ``ConsentStatus`` names are
# CONSENT_GRANTED / CONSENT_DENIED / CONSENT_STATUS_UNSPECIFIED, not the Google Ads API's GRANTED)
# (the test suite checks each request body against the official client's messages)
GRANTED = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
_MEMBER_INDEX = re.compile(r"audience_?[mM]embers\[(\d+)\]")
# Midpoints of the documented MatchRateRange buckets, as fractions.
_RANGE_MID = {
    "MATCH_RATE_RANGE_LESS_THAN_20": 0.10,
    "MATCH_RATE_RANGE_20_TO_30": 0.25,
    "MATCH_RATE_RANGE_31_TO_40": 0.355,
    "MATCH_RATE_RANGE_41_TO_50": 0.455,
    "MATCH_RATE_RANGE_51_TO_60": 0.555,
    "MATCH_RATE_RANGE_61_TO_70": 0.655,
    "MATCH_RATE_RANGE_71_TO_80": 0.755,
    "MATCH_RATE_RANGE_81_TO_90": 0.855,
    "MATCH_RATE_RANGE_91_TO_100": 0.955,
}


class RowErrors(SkippableError):
    """A 400 naming the positions of the bad members in the request."""

    def __init__(self, rows: dict[int, str]) -> None:
        super().__init__(f"{len(rows)} member(s) refused")
        self.rows = rows


@dataclass(frozen=True, slots=True)
class _Member:
    index: int
    body: dict[str, Any]


def _given_up(recipient: Recipient) -> list[dict[str, object]]:
    """The hashed identifiers of the person's other addresses (``Recipient.other_emails``)."""
    return [x for e in recipient.other_emails for x in google_identifiers(e, None, {}).identifiers]


def _retry_delay(error: dict[str, Any]) -> float | None:
    for detail in error.get("details") or []:
        delay = detail.get("retryDelay")
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return float(delay[:-1])
            except ValueError:
                return None
    return None


class GoogleAdsSink(SinkBase):
    consent: Literal["email", "ads"] | None = "ads"

    def __init__(self, settings: GoogleAdsSettings, context: PluginContext) -> None:
        self.settings = settings
        self.context = context
        self.log = context.logger
        self.client = httpx.Client(timeout=settings.timeout)
        self.tokens = TokenSource(settings, self.client)
        self.retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            max_delay=settings.max_retry_seconds,
            on_retry=lambda exc, wait: self.log.info("Google retry in %.1fs: %s", wait, exc),
        )
        self.budget = RateBudget(DATA_MANAGER_CALLS, DATA_MANAGER_WINDOW, name="google.datamanager")
        self.user_lists: dict[str, str] = {}
        # Segments whose list could not be found or created this run: the outcome to give
        # their changes (Google's refusal, or retryable when it stayed unavailable).
        self.list_failures: dict[str, Outcome] = {}
        self.lists: DataManagerLists | UserLists = (
            UserLists(settings, self.tokens, self.retry, self.log)
            if settings.uses_ads_api
            else DataManagerLists(settings, self.tokens, self.retry, self.log)
        )
        self.last_match_rates: dict[str, float] = {}
        self.last_request_ids: list[str] = []

    # ---- protocol -------------------------------------------------------------------------
    def accepts(self, recipient: Recipient) -> bool:
        """Customer Match needs a hashable email, phone or full address; a profile with none
        is skipped by the planner instead of planned (and rejected) every run."""
        r = recipient
        found = google_identifiers(
            r.email, r.phone, r.match, default_region=self.context.default_region
        )
        return bool(found.identifiers)

    def batch_size(self, kind: str) -> int:
        return self.settings.batch_size

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        self.list_failures.clear()
        for segment in segments:
            key = f"user_list:{segment.id}"
            list_id = self.settings.user_lists.get(segment.id) or self.context.state.get(key)
            if list_id:
                self.user_lists[segment.id] = list_id
            elif self.settings.create_user_lists:
                self._own_list(segment, key)
            else:
                self.log.warning(
                    "segment %s has no Customer Match user list in user_lists (and "
                    "create_user_lists is off); its changes will be rejected",
                    segment.id,
                )

    def _own_list(self, segment: SegmentRef, key: str) -> None:
        """Find or create the segment's list; remember it, or the reason it is unavailable."""
        name = self.lists.list_name(segment.name or segment.id)
        try:
            list_id = self.lists.ensure(name, segment.description)
        except RetryableError as exc:
            self.log.warning("no user list for segment %s yet: %s", segment.id, exc)
            self.list_failures[segment.id] = Outcome.retryable(
                f"Customer Match list unavailable: {exc}", exc.retry_after
            )
            return
        except SkippableError as exc:  # a permanent refusal: only this segment is affected
            self.log.warning("Google refused a user list for segment %s: %s", segment.id, exc)
            self.list_failures[segment.id] = Outcome.rejected(str(exc))
            return
        self.user_lists[segment.id] = list_id
        self.context.state.put(key, list_id)

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        """Members grouped per list and kind, sent and polled. A moved member's past
        addresses (``Change.moved``) are removed and their requests polled before anything
        else is sent: Google processes requests asynchronously and documents no order
        between them, and an old and a new address may match one Google account, which a
        later removal would take out of the list again."""
        outcomes: list[Outcome | None] = [None] * len(changes)
        groups: dict[tuple[str, ChangeKind], list[_Member]] = {}
        past: dict[tuple[str, ChangeKind], list[_Member]] = {}
        for i, change in enumerate(changes):
            if change.kind is ChangeKind.UPSERT or change.segment is None:
                outcomes[i] = Outcome.rejected("Customer Match takes only add/remove changes")
                continue
            if change.segment.id not in self.user_lists:
                outcomes[i] = self.list_failures.get(change.segment.id) or Outcome.rejected(
                    f"no user list for segment {change.segment.id}"
                )
                continue
            r = change.recipient
            ids = google_identifiers(
                r.email, r.phone, r.match, default_region=self.context.default_region
            )
            if not ids.identifiers:
                why = "; ".join(f"{k}: {v}" for k, v in ids.dropped.items()) or "none given"
                outcomes[i] = Outcome.rejected(f"no hashable identifier for Google ({why})")
                continue
            identifiers = list(ids.identifiers)
            # the member may have been added under one of the person's other addresses
            given_up = _given_up(r) if change.kind is ChangeKind.REMOVE or change.moved else []
            if change.kind is ChangeKind.REMOVE:
                identifiers += given_up
            elif given_up:  # moved: those go first
                gone = _Member(i, {"userData": {"userIdentifiers": given_up[:10]}})
                past.setdefault((change.segment.id, ChangeKind.REMOVE), []).append(gone)
            # Data Manager API: at most 10 userIdentifiers per member (reference, UserData)
            member: dict[str, Any] = {"userData": {"userIdentifiers": identifiers[:10]}}
            if change.kind is ChangeKind.ADD and r.consent.get("ads") == "granted":
                member["consent"] = GRANTED
            groups.setdefault((change.segment.id, change.kind), []).append(_Member(i, member))
        self.last_request_ids = []
        for step in (past, groups):
            sent: list[tuple[str, str, list[int]]] = []
            for (segment_id, kind), members in step.items():
                size = self.settings.batch_size
                for start in range(0, len(members), size):
                    batch = members[start : start + size]
                    for m, outcome in zip(
                        batch, self._send(segment_id, kind, batch, sent), strict=True
                    ):
                        current = outcomes[m.index]
                        if current is None or current.status == "ok":  # the worst decides
                            outcomes[m.index] = outcome
            self._poll(sent, outcomes)
        return [o if o is not None else Outcome.retryable("not sent") for o in outcomes]

    def close(self) -> None:
        self.client.close()

    # ---- sending --------------------------------------------------------------------------
    def _destination(self, segment_id: str) -> dict[str, Any]:
        s = self.settings
        dest: dict[str, Any] = {
            "operatingAccount": {
                "accountType": s.operating_account_type,
                "accountId": s.operating_account_id,
            },
            "productDestinationId": self.user_lists[segment_id],
        }
        if s.login_account_id:
            dest["loginAccount"] = {
                "accountType": s.login_account_type,
                "accountId": s.login_account_id,
            }
        return dest

    def _send(
        self,
        segment_id: str,
        kind: ChangeKind,
        batch: list[_Member],
        sent: list[tuple[str, str, list[int]]],
    ) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        pending = list(batch)

        def post(members: Sequence[_Member]) -> None:
            request_id = self._post(segment_id, kind, [m.body for m in members])
            sent.append((request_id, segment_id, [m.index for m in members]))

        for _ in range(3):  # field violations: reject the named members, re-send the rest
            try:
                self.retry.call(lambda p=pending: post(p))  # type: ignore[misc]
            except RowErrors as exc:
                for pos, reason in exc.rows.items():
                    outcomes[pending[pos].index] = Outcome.rejected(reason)
                pending = [m for pos, m in enumerate(pending) if pos not in exc.rows]
                if not pending:
                    break
                continue
            except RetryableError as exc:
                outcomes.update(
                    {m.index: Outcome.retryable(str(exc), exc.retry_after) for m in pending}
                )
            except SkippableError:
                isolated = deliver(pending, post, self.retry)
                outcomes.update({m.index: o for m, o in zip(pending, isolated, strict=True)})
            else:
                outcomes.update({m.index: Outcome.ok() for m in pending})
            break
        return [outcomes.get(m.index, Outcome.retryable("not sent")) for m in batch]

    def _post(self, segment_id: str, kind: ChangeKind, members: list[dict[str, Any]]) -> str:
        body: dict[str, Any] = {
            "destinations": [self._destination(segment_id)],
            "audienceMembers": members,
            "encoding": "HEX",
        }
        if kind is ChangeKind.ADD:
            status = "ACCEPTED" if self.settings.terms_of_service_accepted else "REJECTED"
            body["termsOfService"] = {"customerMatchTermsOfServiceStatus": status}
        verb = "ingest" if kind is ChangeKind.ADD else "remove"
        result = self._request("POST", f"/v1/audienceMembers:{verb}", json=body)
        return str(result["requestId"])

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        url = self.settings.base_url.rstrip("/") + path
        response = send_authorised(
            self.tokens, self.budget, method, url, service="Data Manager API", **kwargs
        )
        return self._check(response)

    def _check(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        ctype = response.headers.get("Content-Type")
        if 200 <= status < 300:
            return json_object(status, response.content, service="Data Manager", content_type=ctype)
        body = json_body(status, response.content, service="Data Manager", content_type=ctype)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        message = str(error.get("message") or f"HTTP {status}")[:200]
        action = action_for(status, ACTIONS)
        if action is Action.RETRY:
            wait = parse_retry_after(response.headers.get("Retry-After")) or _retry_delay(error)
            raise error_for(action, f"Data Manager {status}: {message}", retry_after=wait)
        if action is Action.AUTH:
            raise error_for(action, f"Data Manager {status}: {message}")
        rows: dict[int, str] = {}
        reason = ""
        for detail in error.get("details") or []:
            reason = reason or str(detail.get("reason") or "")
            for violation in detail.get("fieldViolations") or []:
                match = _MEMBER_INDEX.search(str(violation.get("field", "")))
                if match:
                    rows[int(match.group(1))] = str(violation.get("description", "invalid"))
        if rows:
            raise RowErrors(rows)
        raise error_for(action, f"Data Manager {status} {reason}: {message}".strip())

    # ---- request status -------------------------------------------------------------------
    def _poll(self, sent: list[tuple[str, str, list[int]]], outcomes: list[Outcome | None]) -> None:
        """Wait for each request's status; FAILED makes its changes retryable."""
        self.last_request_ids += [request_id for request_id, _, _ in sent]
        deadline = time.monotonic() + self.settings.status_timeout
        pending = list(sent)
        rates: dict[str, list[tuple[float, int]]] = {}
        while pending:
            still: list[tuple[str, str, list[int]]] = []
            for request_id, segment_id, indices in pending:
                try:
                    result = self.retry.call(
                        lambda r=request_id: self._request(  # type: ignore[misc]
                            "GET", "/v1/requestStatus:retrieve", params={"requestId": r}
                        )
                    )
                except (RetryableError, SkippableError) as exc:
                    self.log.info("status of %s unavailable: %s", request_id, exc)
                    continue
                per_dest = result.get("requestStatusPerDestination") or []
                states = {d.get("requestStatus") for d in per_dest}
                if "PROCESSING" in states or not states:
                    still.append((request_id, segment_id, indices))
                    continue
                if "FAILED" in states:
                    info: Any = next(
                        (d.get("errorInfo") for d in per_dest if d.get("errorInfo")), {}
                    )
                    for i in indices:
                        outcomes[i] = Outcome.retryable(f"request {request_id} failed: {info}")
                for dest in per_dest:
                    stats = (dest.get("audienceMembersIngestionStatus") or {}).get(
                        "userDataIngestionStatus"
                    ) or {}
                    mid = _RANGE_MID.get(str(stats.get("uploadMatchRateRange")))
                    if mid is not None:
                        count = int(stats.get("recordCount") or 0)
                        rates.setdefault(segment_id, []).append((mid, count))
            pending = still
            if pending:
                if time.monotonic() >= deadline:
                    self.log.info("%d request(s) still processing; accepted", len(pending))
                    break
                time.sleep(self.settings.status_poll_interval)
        for segment_id, parts in rates.items():
            total = sum(n for _, n in parts)
            if total:
                self.last_match_rates[segment_id] = sum(r * n for r, n in parts) / total
