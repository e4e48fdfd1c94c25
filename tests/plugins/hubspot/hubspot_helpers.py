"""Helpers for the HubSpot plugin tests: settings pointing at an emulator and a small apply
driver (chunks changes by ``sink.batch_size`` as the core's apply engine will)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from cdp_hubspot import HubSpotSettings
from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.changes import (
    Change,
    ChangeKind,
    Outcome,
    OutcomeStatus,
    Recipient,
    SegmentRef,
)

TOKEN = "pat-na1-test-token-0001"


def settings_for(emu: HubSpotEmulator, **overrides: object) -> HubSpotSettings:
    base = {
        "access_token": TOKEN,
        "base_url": emu.base_url,
        "requests_per_10s": 1000,
        "search_requests_per_second": 100,
        "retry_base_seconds": 0.01,
        "max_retry_seconds": 30,
        "max_attempts": 6,
    }
    base.update(overrides)
    return HubSpotSettings.model_validate(base)


def apply_all(sink: object, changes: Sequence[Change], *, rounds: int = 1) -> list[Outcome]:
    """Apply like the core: chunks of one kind ≤ batch_size; retryable ones re-sent next round."""
    outcomes: list[Outcome | None] = [None] * len(changes)
    pending = list(range(len(changes)))
    for _ in range(rounds):
        for kind in (ChangeKind.UPSERT, ChangeKind.ADD, ChangeKind.REMOVE):
            picked = [i for i in pending if changes[i].kind == kind]
            size = sink.batch_size(kind)  # type: ignore[attr-defined]
            for start in range(0, len(picked), size):
                chunk = picked[start : start + size]
                result = sink.apply([changes[i] for i in chunk])  # type: ignore[attr-defined]
                assert len(result) == len(chunk)
                for i, outcome in zip(chunk, result, strict=True):
                    outcomes[i] = outcome
        pending = [i for i in pending if outcomes[i].status == OutcomeStatus.RETRYABLE]  # type: ignore[union-attr]
        if not pending:
            break
    return [o for o in outcomes if o is not None]


def upsert(
    pid: str, email: str | None, traits: dict[str, object], hubspot_id: str | None = None
) -> Change:
    ids = {"hubspot_id": hubspot_id} if hubspot_id else {}
    digest = hashlib.sha256(repr(sorted(traits.items())).encode()).hexdigest()[:16]
    return Change(
        ChangeKind.UPSERT,
        Recipient(pid, email=email, ids=ids),
        f"traits:{pid}",
        digest,
        traits=traits,
    )


def member(
    kind: ChangeKind,
    pid: str,
    email: str | None,
    segment: SegmentRef,
    hubspot_id: str | None = None,
) -> Change:
    ids = {"hubspot_id": hubspot_id} if hubspot_id else {}
    return Change(
        kind, Recipient(pid, email=email, ids=ids), f"list:{segment.id}:{pid}", "1", segment=segment
    )


def recorded(emu: HubSpotEmulator) -> list:
    """The request log once it is complete: the base server records a request just after it
    wrote the response, so the client can be a few milliseconds ahead of the log."""
    entries = emu.recorder.entries()
    while True:
        time.sleep(0.05)
        again = emu.recorder.entries()
        if len(again) == len(entries):
            return again
        entries = again
