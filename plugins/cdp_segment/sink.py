"""The Segment sink: our traits as identify calls through segment-analytics-python.

Why identify: Segment fans an identify out to every destination the marketer already has, so
one call per changed profile is the whole integration. Facts (shared/facts section 3.1):
- the SDK batches messages (≤100 per POST, < 475,000 bytes) and retries 408/410/429/460/5xx
  itself; ``on_error(exc, batch)`` reports what it gave up on; ``flush()`` waits until the
  queue is drained, so after it every message is either delivered or reported;
- a message over 32 KB raises in ``_enqueue``; we reject that change alone with its size;
- a batch refused with 400 is resent one message at a time (``sync_mode`` client) so the
  bad message is isolated and its neighbours still land;
- the SDK takes any 2xx as delivered without reading it, so a captive portal's 200 page would
  swallow a batch: a response hook on the SDK's session checks that a 2xx is JSON (Segment
  answers ``{"success": true}``) and raises ``NotJSONError``, which the SDK retries and then
  reports, so those changes stay retryable.

Traits go out as ``<prefix><name>``; a trait we delivered before and no longer compute is sent
as null (Segment keeps the key, most destinations clear the field). Segment memberships (add /
remove changes) become boolean traits ``<prefix>segment_<id>`` (Segment's own convention for
audience membership, e.g. ``order_completed_last_30days: true``).
The messageId is derived from the change's key and digest, so a resend of the same change after
a crash is deduplicated by Segment instead of counted twice.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from cdp_segment.limits import MAX_MESSAGE_BYTES
from cdp_segment.regulations import RegulationsApi, request_regulations
from cdp_segment.settings import SegmentSettings
from connector.sdk import (
    AuthError,
    Change,
    ChangeKind,
    ConfigError,
    Outcome,
    PluginContext,
    Recipient,
    RetryableError,
    SegmentRef,
    SinkBase,
    TraitSpec,
    host_of,
    requests_answer_hook,
)

__all__ = ["SegmentSink", "identify_target"]

_NAMESPACE = uuid.UUID("8a3c1f52-56a4-4b0e-9d2c-4f6b3b8f0c11")
_RETRYABLE = {408, 410, 429, 460}
_AUTH = {401, 403}
_SLUG = re.compile(r"[^a-z0-9]+")


def identify_target(change: Change) -> tuple[str | None, str | None, dict[str, Any]] | str:
    """(userId, anonymousId, extra traits) for the recipient, or the reason it has none."""
    return _target(change.recipient)


def _target(r: Recipient) -> tuple[str | None, str | None, dict[str, Any]] | str:
    user_id = r.ids.get("segment_user_id")
    if user_id and user_id != r.profile_id:  # Segment's own user (ours is the profile id)
        return user_id, None, {}
    if r.ids.get("segment_anonymous_id") and not user_id:
        return None, r.ids["segment_anonymous_id"], {}
    if r.email:
        return r.profile_id, None, {"email": r.email}
    if user_id:
        return user_id, None, {}
    return f"profile {r.profile_id} has no Segment userId, anonymousId or email to identify"


def _landed(change: Change) -> Outcome:
    """Success; a person Segment knew by no id of its own was identified by our profile id, a
    Segment user we made: reported as learned, so the Segment source reading that identify back
    reads an echo of our write (``connector.store.echoes``), which keeps nobody active."""
    r = change.recipient
    if r.ids.get("segment_user_id") or r.ids.get("segment_anonymous_id"):
        return Outcome.ok()
    return Outcome.ok(segment_user_id=r.profile_id)


def _user_id(r: Recipient) -> str | None:
    target = _target(r)
    return None if isinstance(target, str) else target[0]


def _jsonable(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars from the modelling layer
    if callable(item) and not isinstance(value, str | bytes | list | dict):
        return item()
    return value


class SegmentSink(SinkBase):
    # Segment fans identify traits out to every connected destination, ad tools included, so
    # both memberships and traits need ads consent. Default policy not_denied: nobody who said
    # no is sent, and a withdrawal clears what we sent (traits null, memberships false);
    # tools downstream apply their own consent. ``consent_policy = "strict"`` sends grants only.
    consent: Literal["email", "ads"] | None = "ads"
    trait_consent: Literal["email", "ads"] | None = "ads"
    consent_policy: Literal["strict", "not_denied"] = "not_denied"

    def __init__(self, settings: SegmentSettings, context: PluginContext) -> None:
        if settings.write_key is None:
            raise ConfigError("segment: write_key is required to send traits")
        if settings.privacy_regulation and settings.public_api_token is None:
            raise ConfigError("segment: privacy_regulation = true needs public_api_token")
        self.settings = settings
        self.context = context
        self._errors: dict[str, tuple[int | None, str]] = {}
        self._lock = threading.Lock()
        self._client = self._make_client(sync=False)

    def _make_client(self, *, sync: bool) -> Any:
        from segment.analytics import Client

        _check_answers()
        s = self.settings
        assert s.write_key is not None  # noqa: S101 - checked in __init__
        return Client(
            s.write_key.get_secret_value(),
            host=s.base_url,
            on_error=None if sync else self._on_error,
            gzip=s.gzip,
            max_retries=s.max_attempts - 1,
            timeout=s.timeout,
            sync_mode=sync,
            upload_size=s.upload_size,
            upload_interval=0.1,
            max_queue_size=max(10_000, 2 * s.chunk_size),
            max_total_backoff_duration=s.max_retry_seconds,
            max_rate_limit_duration=s.max_retry_seconds,
        )

    # ---- Sink protocol ----------------------------------------------------------------------
    def accepts(self, recipient: Recipient) -> bool:
        """Without a Segment userId, anonymousId or email an identify can never land: the
        planner skips such profiles instead of planning (and rejecting) them every run."""
        return not isinstance(_target(recipient), str)

    def batch_size(self, kind: str) -> int:
        return self.settings.chunk_size

    def erase(self, recipients: Sequence[Recipient]) -> Sequence[Outcome]:
        """With ``privacy_regulation`` on, Segment deletes (and suppresses) the userIds our
        identify calls used; otherwise clearing our traits and flags was the erasure."""
        s = self.settings
        if not s.privacy_regulation or s.public_api_token is None:
            return super().erase(recipients)
        api = RegulationsApi(
            s.public_api_url,
            s.public_api_token.get_secret_value(),
            source_id=s.regulation_source_id,
            timeout=s.timeout,
            retry=s.retry_policy(),
        )
        user_ids = [_user_id(r) for r in recipients]
        try:
            return request_regulations(api, s.regulation_type, recipients, user_ids)
        finally:
            api.close()

    def prepare(self, traits: Sequence[TraitSpec], segments: Sequence[SegmentRef]) -> None:
        """Nothing to create: Segment traits are schemaless. Check the names will be accepted."""
        for spec in traits:
            if len(self.settings.trait_prefix + spec.name) > 255:
                raise ConfigError(f"segment: trait name {spec.name[:40]!r}... is too long")

    def apply(self, changes: Sequence[Change]) -> Sequence[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(changes)
        sent: dict[str, int] = {}
        with self._lock:
            self._errors = {}
        for index, change in enumerate(changes):
            built = self._message(change)
            if isinstance(built, Outcome):
                outcomes[index] = built
                continue
            user_id, anonymous_id, traits, mid = built
            try:
                queued, _ = self._client.identify(
                    user_id=user_id, anonymous_id=anonymous_id, traits=traits, message_id=mid
                )
            except RuntimeError:
                # The SDK refuses messages over MAX_MSG_SIZE before queueing them.
                size = len(json.dumps(traits, default=str).encode())
                outcomes[index] = Outcome.rejected(
                    f"identify message for profile {change.recipient.profile_id} exceeds "
                    f"Segment's {MAX_MESSAGE_BYTES >> 10} KB message limit "
                    f"(traits alone are {size} bytes)"
                )
                continue
            except (TypeError, ValueError, AssertionError) as exc:
                outcomes[index] = Outcome.rejected(f"identify message is invalid: {exc}")
                continue
            if not queued:
                outcomes[index] = Outcome.retryable("the SDK's send queue is full")
                continue
            sent[mid] = index
        self._client.flush()
        with self._lock:
            errors, self._errors = self._errors, {}
        self._settle(changes, outcomes, sent, errors)
        return [o if o is not None else Outcome.retryable("no outcome") for o in outcomes]

    def close(self) -> None:
        self._client.shutdown()

    # ---- internals --------------------------------------------------------------------------
    def _message(
        self, change: Change
    ) -> tuple[str | None, str | None, dict[str, Any], str] | Outcome:
        target = identify_target(change)
        if isinstance(target, str):
            return Outcome.rejected(target)
        user_id, anonymous_id, traits = target
        if change.clears:
            # a clear (consent withdrawn, an erasure) or a removal of someone no longer live
            # names the user by the id the earlier identify gave it: Segment fans every trait
            # out, the address included; a routine list exit keeps it for tools keyed on it
            traits.pop("email", None)
        prefix = self.settings.trait_prefix
        if change.kind is ChangeKind.UPSERT:
            traits.update({prefix + k: _jsonable(v) for k, v in change.traits.items()})
            traits.update({prefix + k: None for k in change.unset if k not in change.traits})
        elif change.segment is not None:
            slug = _SLUG.sub("_", change.segment.id.lower()).strip("_")
            traits[f"{prefix}segment_{slug}"] = change.kind is ChangeKind.ADD
        else:
            return Outcome.rejected(f"{change.kind} change without a segment")
        mid = str(uuid.uuid5(_NAMESPACE, f"{change.key}|{change.digest}|{change.kind}"))
        return user_id, anonymous_id, traits, mid

    def _on_error(self, exc: Exception, batch: list[Mapping[str, Any]]) -> None:
        status = getattr(exc, "status", None)
        code = getattr(exc, "code", None)
        message = getattr(exc, "message", None)
        reason = f"{code}: {message}" if code else f"{type(exc).__name__}: {exc}"
        with self._lock:
            for msg in batch:
                self._errors[str(msg.get("messageId"))] = (
                    status if isinstance(status, int) else None,
                    reason,
                )

    def _settle(
        self,
        changes: Sequence[Change],
        outcomes: list[Outcome | None],
        sent: dict[str, int],
        errors: dict[str, tuple[int | None, str]],
    ) -> None:
        refused: list[str] = []
        auth: str | None = None
        for mid, index in sent.items():
            if mid not in errors:
                outcomes[index] = _landed(changes[index])
                continue
            status, reason = errors[mid]
            if status in _AUTH:
                auth = reason
            elif status is None or status in _RETRYABLE or status >= 500:
                outcomes[index] = Outcome.retryable(f"Segment did not accept the batch: {reason}")
            else:
                refused.append(mid)
        if auth is not None:
            raise AuthError(f"segment refused the write key: {auth}")
        if refused:
            self._isolate(changes, outcomes, {mid: sent[mid] for mid in refused})

    def _isolate(
        self, changes: Sequence[Change], outcomes: list[Outcome | None], refused: dict[str, int]
    ) -> None:
        """Resend the messages of a refused batch one by one to find the bad ones."""
        from segment.analytics.request import APIError

        single = self._make_client(sync=True)
        for mid, index in refused.items():
            built = self._message(changes[index])
            if isinstance(built, Outcome):
                outcomes[index] = built
                continue
            user_id, anonymous_id, traits, _ = built
            try:
                single.identify(
                    user_id=user_id, anonymous_id=anonymous_id, traits=traits, message_id=mid
                )
                outcomes[index] = _landed(changes[index])
            except APIError as exc:
                if exc.status in _AUTH:
                    raise AuthError(f"segment refused the write key: {exc.code}") from exc
                reason = f"Segment refused the message: {exc.code}: {exc.message} ({exc.status})"
                retry = exc.status in _RETRYABLE or exc.status >= 500
                outcomes[index] = Outcome.retryable(reason) if retry else Outcome.rejected(reason)
            except OSError as exc:
                where = host_of(self.settings.base_url)
                why = f"Segment at {where} unreachable: {type(exc).__name__}"
                outcomes[index] = Outcome.retryable(why)
            except RetryableError as exc:
                outcomes[index] = Outcome.retryable(str(exc))


def _check_answers() -> None:
    """Install the 2xx-must-be-JSON check on the SDK's one module-level session, once."""
    from segment.analytics import request

    hooks = request._session.hooks.setdefault("response", [])
    if not any(getattr(h, "answer_check", None) for h in hooks):
        hooks.append(requests_answer_hook("Segment"))
