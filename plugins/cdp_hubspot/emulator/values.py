"""Property values as HubSpot stores and checks them: every value is a string on the wire.

HubSpot rejects a value that does not fit its property's type with a 400 VALIDATION_ERROR whose
message lists the offending properties (``Property values were not valid: [...]``). The checks
here follow the documented value formats (facts §2.3): numbers as decimal text, bools as
``true``/``false``, ``date`` as epoch ms at midnight UTC (or ``YYYY-MM-DD``), ``datetime`` as
epoch ms or ISO-8601, enumerations as one of the option values (``;``-joined for checkboxes).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from typing import Any

__all__ = [
    "PropertyValueError",
    "iso_ms",
    "normalise_value",
    "now_ms",
    "parse_instant_ms",
    "sort_key",
]

_DAY_MS = 86_400_000


class PropertyValueError(ValueError):
    """A value that does not fit its property; ``detail`` is HubSpot's per-property entry."""

    def __init__(self, name: str, message: str, code: str) -> None:
        super().__init__(message)
        self.detail = {
            "isValid": False,
            "message": message,
            "error": code,
            "name": name,
            "localizedErrorMessage": message,
        }


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def iso_ms(ms: int) -> str:
    """HubSpot's timestamp text: ``2024-05-01T10:00:00.000Z``."""
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_instant_ms(raw: Any) -> int | None:
    """Epoch ms from epoch-ms text/ints or ISO-8601 text; None when it is neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return int(raw)
    text = str(raw).strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def _invalid_option(name: str, value: str, options: list[str]) -> PropertyValueError:
    allowed = ", ".join(options)
    return PropertyValueError(
        name, f'"{value}" was not one of the allowed options: [{allowed}]', "INVALID_OPTION"
    )


def normalise_value(prop: dict[str, Any], raw: Any) -> str:  # noqa: PLR0912 - one branch per type
    """The stored string for ``raw`` under ``prop``, or ``PropertyValueError``.

    An empty string (or null) clears the property, whatever its type, as HubSpot does.
    """
    name = str(prop["name"])
    if raw is None:
        return ""
    text = str(raw).lower() if isinstance(raw, bool) else str(raw)
    if text == "":
        return ""
    kind = prop["type"]
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise PropertyValueError(name, f"{text} was not a valid number.", "INVALID_DOUBLE")
        return text
    if kind == "bool":
        if text.lower() not in ("true", "false"):
            raise PropertyValueError(
                name, f"{text} was not a valid boolean (true/false).", "INVALID_BOOLEAN"
            )
        return text.lower()
    if kind == "date":
        return _date_value(name, text)
    if kind == "datetime":
        ms = parse_instant_ms(text)
        if ms is None:
            raise PropertyValueError(name, f"{text} is not a valid datetime.", "INVALID_DATETIME")
        return iso_ms(ms)
    if kind == "enumeration":
        options = [str(o["value"]) for o in prop.get("options") or []]
        values = text.split(";") if prop.get("fieldType") == "checkbox" else [text]
        for value in values:
            if value not in options:
                raise _invalid_option(name, value, options)
        return text
    if name == "email" and "@" not in text:
        raise PropertyValueError(name, f"Email address {text} is invalid", "INVALID_EMAIL")
    return text


def _date_value(name: str, text: str) -> str:
    if text.lstrip("-").isdigit():
        ms = int(text)
        if ms % _DAY_MS != 0:
            raise PropertyValueError(
                name,
                f"{text} is at {iso_ms(ms)}, which is not midnight UTC!",
                "INVALID_DATE",
            )
        return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise PropertyValueError(name, f"{text} is not a valid date.", "INVALID_DATE") from None


def sort_key(prop: dict[str, Any] | None, value: str | None) -> tuple[int, Any]:
    """A comparable key for search filters and sorts; missing values sort last."""
    if value is None or value == "":
        return (1, 0)
    kind = prop["type"] if prop else "string"
    if kind == "number":
        try:
            return (0, float(value))
        except ValueError:
            return (0, math.inf)
    if kind in ("datetime", "date"):
        ms = parse_instant_ms(value)
        return (0, ms if ms is not None else 0)
    return (0, value.lower())


def errors_message(details: list[dict[str, Any]]) -> str:
    """HubSpot's batch 400 message for invalid property values."""
    return "Property values were not valid: " + json.dumps(details, separators=(",", ":"))
