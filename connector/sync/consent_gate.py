"""Who may be activated where: the consent gate applied to list and audience memberships."""

from __future__ import annotations

from typing import Literal

__all__ = ["allowed"]


def allowed(status: str | None, policy: Literal["strict", "not_denied"] = "strict") -> bool:
    """Strict: only an explicit grant. ``not_denied``: anything but an explicit denial."""
    if policy == "strict":
        return status == "granted"
    return status != "denied"
