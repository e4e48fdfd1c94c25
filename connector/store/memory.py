"""One memory budget for the embedded engine, shared by the data store and the planner.

``workspace.memory_limit`` bounds DuckDB as a whole. The data store holds all of it while a
run pulls, unifies and models; while the run plans and applies, the store answers only small
queries, so it keeps ``STORE_SHARE`` of the budget (DuckDB evicts its cached pages down to that
at once) and the planning database gets the rest. Two databases at the full limit each made a
million-profile first run peak at twice the setting plus Python's own objects.
"""

from __future__ import annotations

import re

__all__ = ["STORE_SHARE", "limit_bytes", "share_of"]

STORE_SHARE = 0.25
_UNITS = {
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}  # fmt: skip


def limit_bytes(text: str) -> int:
    """A ``memory_limit`` setting ("2GB", "512 MiB") in bytes, as DuckDB reads it."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B)\s*", text)
    if found is None:
        raise ValueError(f"not a memory size: {text!r} (e.g. 2GB, 512MiB)")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def share_of(text: str, share: float) -> str:
    """``share`` of a memory size, as a size DuckDB accepts."""
    return f"{int(limit_bytes(text) * share)} bytes"
