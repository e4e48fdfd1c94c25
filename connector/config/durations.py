"""Human durations in config (``"90s"``, ``"15m"``, ``"2h"``, ``"7d"`` or plain seconds)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator

__all__ = ["Duration", "parse_duration"]

_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return timedelta(seconds=value)
    if isinstance(value, str) and (m := _RE.match(value.lower())):
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])
    raise ValueError("expected a duration such as '90s', '15m', '2h', '7d' or seconds")


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
