"""Traits as HubSpot properties: names, typed definitions and wire values.

Every HubSpot property value travels as a string (facts §2.3): numbers as decimal text, bools as
``true``/``false``, ``date`` as epoch ms at midnight UTC, ``datetime`` as epoch ms. Values that
cannot be converted are sent as text anyway, so HubSpot rejects them with its own reason, which
is what the user sees in the run report.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any

from connector.sdk import SkippableError, TraitSpec, parse_timestamp

__all__ = ["definition", "property_name", "wire_value"]

# TraitSpec.type → (HubSpot type, fieldType); the enums are the properties API's.
_TYPES = {
    "number": ("number", "number"),
    "string": ("string", "text"),
    "date": ("date", "date"),
    "datetime": ("datetime", "date"),
    "enum": ("enumeration", "select"),
    "bool": ("bool", "booleancheckbox"),
}
_BOOL_OPTIONS = [
    {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False},
    {"label": "No", "value": "false", "displayOrder": 1, "hidden": False},
]


def property_name(trait: str) -> str:
    """HubSpot internal names are lowercase ``[a-z0-9_]``, starting with a letter."""
    name = re.sub(r"[^a-z0-9_]+", "_", trait.lower()).strip("_")
    return name if name[:1].isalpha() else f"cdp_{name}"


def options_for(spec: TraitSpec) -> list[dict[str, Any]]:
    if spec.type == "bool":
        return list(_BOOL_OPTIONS)
    return [
        {"label": o.replace("_", " ").title(), "value": o, "displayOrder": i, "hidden": False}
        for i, o in enumerate(spec.options)
    ]


def definition(spec: TraitSpec, group: str) -> dict[str, Any]:
    """The ``PropertyCreate`` body for one trait."""
    type_, field_type = _TYPES[spec.type]
    body: dict[str, Any] = {
        "name": property_name(spec.name),
        "label": spec.label or spec.name,
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "description": spec.description,
        "formField": False,
    }
    if spec.type in ("enum", "bool"):
        body["options"] = options_for(spec)
    return body


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()  # HubSpot will refuse it with its reason
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.10f}".rstrip("0").rstrip(".") or "0"
    return str(value)


def _instant(value: Any, *, midnight: bool) -> str:
    try:
        if isinstance(value, date) and not isinstance(value, datetime):
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
        else:
            moment = parse_timestamp(value, field="trait")
    except SkippableError:
        return str(value)
    if midnight:
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return str(int(moment.timestamp() * 1000))


def wire_value(spec: TraitSpec | None, value: Any) -> str:
    """The string HubSpot expects for ``value``; ``""`` clears the property."""
    if value is None:
        return ""
    if spec is None or spec.type == "string":
        return str(value).lower() if isinstance(value, bool) else str(value)
    if spec.type == "number":
        return _number(value)
    if spec.type == "bool":
        return str(value).lower() if isinstance(value, bool | str) else str(value)
    if spec.type == "date":
        return _instant(value, midnight=True)
    if spec.type == "datetime":
        return _instant(value, midnight=False)
    return str(value)
