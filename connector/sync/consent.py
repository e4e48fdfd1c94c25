"""Who may be sent to an activation channel, given their consent status and the policy.

The canonical consent status is ``granted``, ``denied`` or ``unknown`` (ARCHITECTURE.md,
Canonical schema). Ad destinations default to ``strict``: only an explicit grant counts, which is
what EEA consent rules for ad personalisation require. ``not_denied`` also sends profiles with no
recorded answer, for markets where an opt-out model is lawful; a denial always wins. The planner
calls ``allowed`` for each recipient; a profile that stops being allowed drops out of the
desired membership, so the ledger diff removes it on the next run.
"""

from __future__ import annotations

from typing import Literal

from connector.errors import ConfigError

__all__ = ["CONSENT_POLICIES", "ConsentPolicy", "allowed"]

ConsentPolicy = Literal["strict", "not_denied"]
CONSENT_POLICIES: tuple[str, ...] = ("strict", "not_denied")

_GRANTED = frozenset({"granted"})
_NOT_DENIED = frozenset({"granted", "unknown", ""})


def allowed(consent_status: str | None, policy: str = "strict") -> bool:
    """True when a profile with ``consent_status`` may be sent under ``policy``.

    A missing status (None or empty) is treated as ``unknown``. Unrecognised status text is
    treated as not granted under both policies (fail closed), so a typo never leaks a profile.
    """
    status = (consent_status or "").strip().lower()
    if policy == "strict":
        return status in _GRANTED
    if policy == "not_denied":
        return status in _NOT_DENIED
    raise ConfigError(f"consent policy {policy!r} is not one of {', '.join(CONSENT_POLICIES)}")
