"""Identity graph: deterministic merges, stable profile ids, merge explanations."""

from connector.identity.explain import explain_profile
from connector.identity.resolver import IdentityRecord, Merge, Resolution, resolve
from connector.identity.unify import UnifyResult, unify

__all__ = [
    "IdentityRecord",
    "Merge",
    "Resolution",
    "UnifyResult",
    "explain_profile",
    "resolve",
    "unify",
]
