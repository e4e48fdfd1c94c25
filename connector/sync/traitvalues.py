"""Trait values as destinations receive them, and the digest the ledger records of them."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import pandas as pd

__all__ = ["DIGEST_JSON", "clean", "traits_digest"]


def clean(value: Any, digits: int | None = None) -> Any:
    """JSON-stable trait values: floats rounded (to the trait's ``precision``, else 6 decimals),
    ISO dates, no NaN."""
    if value is None or value is pd.NA or value is pd.NaT:  # pandas' missing values
        return None
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        rounded = round(value, 6 if digits is None else digits)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return clean(value.item(), digits)
    return value


# one encoder for every digest: ``json.dumps`` with options builds a new one per call, which
# was a third of planning a profile (the text, and so every digest, is the same)
DIGEST_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def traits_digest(traits: Mapping[str, Any]) -> str:
    text = DIGEST_JSON.encode(traits)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
