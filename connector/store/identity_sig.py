"""Identity keys of a record and their signature (which records share one identifier set)."""

from __future__ import annotations

import hashlib

__all__ = ["identity_keys", "identity_signature"]


def identity_keys(email: str | None, phone: str | None, ids: dict[str, str]) -> list[str]:
    keys = [f"email:{email}"] if email else []
    if phone:
        keys.append(f"phone:{phone}")
    keys.extend(f"{kind}:{value}" for kind, value in sorted(ids.items()))
    return keys


def identity_signature(email: str | None, phone: str | None, ids: dict[str, str]) -> str:
    text = "\x1f".join(identity_keys(email, phone, ids))
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()
