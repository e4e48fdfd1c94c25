"""The HubSpot-defined properties the emulator starts with (a subset of a real portal's)."""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_GROUPS", "default_properties", "property_record"]

_EPOCH = "2020-01-01T00:00:00.000Z"

LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
DEAL_STAGES = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
    "closedwon",
    "closedlost",
)

DEFAULT_GROUPS: dict[str, list[str]] = {
    "contacts": ["contactinformation", "emailinformation"],
    "deals": ["dealinformation"],
}


def property_record(
    name: str,
    type_: str,
    field_type: str,
    group: str,
    *,
    label: str | None = None,
    options: list[str] | None = None,
    hubspot_defined: bool = False,
    description: str = "",
) -> dict[str, Any]:
    """A property as the properties API returns it (all required keys of ``Property``)."""
    return {
        "name": name,
        "label": label or name,
        "type": type_,
        "fieldType": field_type,
        "groupName": group,
        "description": description,
        "options": [
            {"label": o, "value": o, "displayOrder": i, "hidden": False}
            for i, o in enumerate(options or [])
        ],
        "displayOrder": -1,
        "hasUniqueValue": name == "email",
        "hidden": False,
        "formField": False,
        "hubspotDefined": hubspot_defined,
        "calculated": False,
        "externalOptions": False,
        "archived": False,
        "createdAt": _EPOCH,
        "updatedAt": _EPOCH,
        "modificationMetadata": {
            "archivable": not hubspot_defined,
            "readOnlyDefinition": hubspot_defined,
            "readOnlyValue": False,
        },
    }


def default_properties(object_type: str) -> dict[str, dict[str, Any]]:
    ci = "contactinformation"
    specs: list[tuple[str, str, str, str, list[str] | None]]
    if object_type == "contacts":
        specs = [
            ("email", "string", "text", ci, None),
            ("firstname", "string", "text", ci, None),
            ("lastname", "string", "text", ci, None),
            ("phone", "string", "phonenumber", ci, None),
            ("mobilephone", "string", "phonenumber", ci, None),
            ("city", "string", "text", ci, None),
            ("zip", "string", "text", ci, None),
            ("country", "string", "text", ci, None),
            ("lifecyclestage", "enumeration", "radio", ci, list(LIFECYCLE_STAGES)),
            ("createdate", "datetime", "date", ci, None),
            ("lastmodifieddate", "datetime", "date", ci, None),
            ("hs_object_id", "number", "number", ci, None),
            ("hs_email_optout", "bool", "booleancheckbox", "emailinformation", ["true", "false"]),
        ]
    elif object_type == "deals":
        di = "dealinformation"
        specs = [
            ("dealname", "string", "text", di, None),
            ("amount", "number", "number", di, None),
            ("closedate", "datetime", "date", di, None),
            ("dealstage", "enumeration", "radio", di, list(DEAL_STAGES)),
            ("pipeline", "enumeration", "select", di, ["default"]),
            ("deal_currency_code", "string", "text", di, None),
            ("createdate", "datetime", "date", di, None),
            ("hs_lastmodifieddate", "datetime", "date", di, None),
            ("hs_object_id", "number", "number", di, None),
        ]
    else:
        specs = []
    return {
        name: property_record(name, t, f, g, options=o, hubspot_defined=True)
        for name, t, f, g, o in specs
    }
