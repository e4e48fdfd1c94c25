"""CRM v3 property and property-group routes of the HubSpot emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cdp_hubspot.emulator.inputs import bad_input, store_of
from cdp_hubspot.emulator.schema import property_record
from cdp_hubspot.emulator.values import iso_ms, now_ms
from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["PropertyRoutes"]

_PROPS = "/crm/v3/properties/{objectType}"
_TYPES = {"bool", "date", "datetime", "enumeration", "number", "phone_number", "string"}
_FIELD_TYPES = {
    "booleancheckbox", "calculation_equation", "checkbox", "date", "file", "html", "number",
    "phonenumber", "radio", "select", "text", "textarea",
}  # fmt: skip


class PropertyRoutes:
    """Handlers of the property and group endpoints; definitions live in the object stores."""

    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu

    def register(self) -> None:
        self.emu.routes(
            [
                ("GET", f"{_PROPS}/groups", self.list_groups),
                ("POST", f"{_PROPS}/groups", self.create_group),
                ("GET", f"{_PROPS}/groups/{{groupName}}", self.get_group),
                ("GET", _PROPS, self.list_properties),
                ("POST", _PROPS, self.create_property),
                ("GET", f"{_PROPS}/{{propertyName}}", self.get_property),
                ("PATCH", f"{_PROPS}/{{propertyName}}", self.update_property),
            ]
        )

    def _groups_of(self, request: Request) -> dict[str, dict[str, Any]]:
        store = store_of(self.emu, request)
        return self.emu.groups.setdefault(store.object_type, {})

    def list_groups(self, request: Request) -> Response:
        return Response(200, {"results": list(self._groups_of(request).values())})

    def get_group(self, request: Request) -> Response:
        group = self._groups_of(request).get(request.params["groupName"])
        if group is None:
            return self.emu.error_response(
                404, f"group {request.params['groupName']} does not exist"
            )
        return Response(200, group)

    def create_group(self, request: Request) -> Response:
        body, groups = request.json() or {}, self._groups_of(request)
        name = str(body.get("name") or "")
        if not name or not body.get("label"):
            raise bad_input("name and label are required")
        if name in groups:
            return self.emu.error_response(
                409,
                f"A property group with name {name} already exists",
                category="OBJECT_ALREADY_EXISTS",
            )
        groups[name] = {
            "name": name,
            "label": str(body["label"]),
            "displayOrder": int(body.get("displayOrder", -1)),
            "archived": False,
        }
        return Response(201, groups[name])

    def list_properties(self, request: Request) -> Response:
        return Response(200, {"results": list(store_of(self.emu, request).properties.values())})

    def get_property(self, request: Request) -> Response:
        prop = store_of(self.emu, request).properties.get(request.params["propertyName"])
        if prop is None:
            return self.emu.error_response(
                404, f"Unable to find property {request.params['propertyName']}"
            )
        return Response(200, prop)

    def create_property(self, request: Request) -> Response:
        store, body = store_of(self.emu, request), request.json() or {}
        for key in ("name", "label", "type", "fieldType", "groupName"):
            if not body.get(key):
                raise bad_input(f"{key} is required")
        name = str(body["name"])
        if name in store.properties:
            return self.emu.error_response(
                409, f"Property named '{name}' already exists.", category="OBJECT_ALREADY_EXISTS"
            )
        _check_definition(body, self.emu.groups.get(store.object_type, {}))
        prop = property_record(
            name,
            str(body["type"]),
            str(body["fieldType"]),
            str(body["groupName"]),
            label=str(body["label"]),
            description=str(body.get("description") or ""),
        )
        prop["options"] = _options(body.get("options"))
        prop["hasUniqueValue"] = bool(body.get("hasUniqueValue", False))
        store.properties[name] = prop
        return Response(201, prop)

    def update_property(self, request: Request) -> Response:
        store, body = store_of(self.emu, request), request.json() or {}
        prop = store.properties.get(request.params["propertyName"])
        if prop is None:
            return self.emu.error_response(
                404, f"Unable to find property {request.params['propertyName']}"
            )
        if prop["hubspotDefined"] and ("type" in body or "fieldType" in body):
            raise bad_input(f"Property {prop['name']} is read-only; its type cannot change")
        merged = {**prop, **{k: v for k, v in body.items() if k != "options"}}
        if "options" in body:
            merged["options"] = _options(body["options"])
        _check_definition(merged, self.emu.groups.get(store.object_type, {}))
        merged["updatedAt"] = iso_ms(now_ms())
        store.properties[prop["name"]] = merged
        return Response(200, merged)


def _options(raw: Any) -> list[dict[str, Any]]:
    out = []
    for i, opt in enumerate(raw or []):
        if not isinstance(opt, dict) or "value" not in opt:
            raise bad_input("each option needs a label and a value")
        out.append(
            {
                "label": str(opt.get("label", opt["value"])),
                "value": str(opt["value"]),
                "displayOrder": int(opt.get("displayOrder", i)),
                "hidden": bool(opt.get("hidden", False)),
            }
        )
    return out


def _check_definition(body: dict[str, Any], groups: dict[str, Any]) -> None:
    if body["type"] not in _TYPES:
        raise bad_input(f"type {body['type']} is not one of {sorted(_TYPES)}")
    if body["fieldType"] not in _FIELD_TYPES:
        raise bad_input(f"fieldType {body['fieldType']} is not one of {sorted(_FIELD_TYPES)}")
    if body["groupName"] not in groups:
        raise bad_input(f"group {body['groupName']} does not exist")
    if body["type"] == "enumeration" and not body.get("options"):
        raise bad_input("enumeration properties need at least one option")
