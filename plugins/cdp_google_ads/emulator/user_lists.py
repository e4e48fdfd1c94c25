"""The Data Manager API's UserListService (v1.5), as the emulator serves it.

Routes and shapes follow the REST bindings of the official client ``google-ads-datamanager``
0.9.4 (``services/user_list_service/transports/rest_base.py``, ``types/user_list.py``):

- ``POST /v1/{parent=accountTypes/*/accounts/*}/userLists`` with a ``UserList`` body
- ``GET /v1/{parent}/userLists`` with ``pageSize`` (default 50, at most 1,000), ``pageToken``
  and an AIP-160 ``filter`` (``display_name = "x"`` and ``id = 1``, joined by ``AND``)
- ``GET``, ``PATCH`` (``updateMask``) and ``DELETE`` on ``/v1/{name=accountTypes/*/accounts/*/
  userLists/*}``; all three take ``validateOnly`` where the proto has it.

A ``UserList`` in JSON: ``name``, ``id`` (int64, a string), ``displayName``, ``description``,
``membershipStatus``, ``membershipDuration`` ("<seconds>s", whole days, ≤540 days:
``MEMBERSHIP_DURATION_TOO_LONG``), ``ingestedUserListInfo`` (``uploadKeyTypes`` and
``contactIdInfo.dataSourceType`` for Customer Match). Enums arrive as names (the REST reference)
or as numbers (the official client sends ``$alt=json;enum-encoding=int``). A display name taken
in the account is refused with ``DISPLAY_NAME_ALREADY_USED`` (``types/error.py``). Created lists
are valid ``productDestinationId`` values for ``audienceMembers:ingest``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from connector.sdk import Request, Response

__all__ = ["UserListServiceMixin"]

_DAY = 86_400
_MAX_DAYS = 540
_UPLOAD_KEY_TYPES = ["UPLOAD_KEY_TYPE_UNSPECIFIED", "CONTACT_ID", "MOBILE_ID", "USER_ID"]
_DATA_SOURCES = ["DATA_SOURCE_TYPE_UNSPECIFIED", "DATA_SOURCE_TYPE_FIRST_PARTY"]
_STATUSES = ["MEMBERSHIP_STATUS_UNSPECIFIED", "OPEN", "CLOSED"]
_CONDITION = re.compile(r'^\s*(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\d+))\s*$')
_UPDATABLE = {"display_name", "description", "membership_status", "membership_duration"}


def _enum(value: Any, names: list[str]) -> str | None:
    """An enum given by name or by number (``enum-encoding=int``), as its name."""
    if isinstance(value, int) and 0 <= value < len(names):
        return names[value]
    return str(value) if value in names else None


@dataclass(slots=True)
class DataManagerList:
    id: str
    parent: str
    display_name: str
    description: str = ""
    membership_status: str = "OPEN"
    membership_duration: str | None = None
    upload_key_types: list[str] = field(default_factory=lambda: ["CONTACT_ID"])
    data_source_type: str = "DATA_SOURCE_TYPE_FIRST_PARTY"

    @property
    def name(self) -> str:
        return f"{self.parent}/userLists/{self.id}"

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "id": self.id,
            "readOnly": False,
            "displayName": self.display_name,
            "description": self.description,
            "membershipStatus": self.membership_status,
            "ingestedUserListInfo": {
                "uploadKeyTypes": list(self.upload_key_types),
                "contactIdInfo": {"dataSourceType": self.data_source_type},
            },
        }
        if self.membership_duration is not None:
            body["membershipDuration"] = self.membership_duration
        return body


class UserListServiceMixin:
    """UserListService handlers; mixed into ``GoogleAdsEmulator`` (which owns the lock)."""

    dm_lists: dict[str, DataManagerList]

    def _init_user_lists(self) -> None:
        self.dm_lists = {}
        self._dm_ids = itertools.count(800_000_001)

    def user_list_routes(self) -> list[tuple[str, str, Any]]:
        parent = "/v1/accountTypes/{atype}/accounts/{account}/userLists"
        return [
            ("POST", parent, self._ul_create),
            ("GET", parent, self._ul_list),
            ("GET", parent + "/{list_id}", self._ul_get),
            ("PATCH", parent + "/{list_id}", self._ul_update),
            ("DELETE", parent + "/{list_id}", self._ul_delete),
        ]

    # ---- handlers -------------------------------------------------------------------------
    def _ul_create(self, request: Request) -> Response:
        body = request.json() or {}
        parent = self._parent(request)
        candidate = DataManagerList(id=str(next(self._dm_ids)), parent=parent, display_name="")
        refused = self._apply_fields(candidate, body, set(_UPDATABLE) | {"ingested"})
        if refused is not None:
            return refused
        if not candidate.display_name:
            return self._ul_error(400, "INVALID_DISPLAY_NAME", "display_name is required.")
        if self._name_taken(parent, candidate.display_name, candidate.id):
            return self._ul_error(
                400,
                "DISPLAY_NAME_ALREADY_USED",
                "The display name is already being used for another user list for the account.",
            )
        if request.arg("validateOnly") != "true":
            self.dm_lists[candidate.id] = candidate
            self._new_destination(candidate.id)
        return Response(200, candidate.json())

    def _ul_list(self, request: Request) -> Response:
        parent = self._parent(request)
        try:
            wanted = self._filter(request.arg("filter") or "")
        except ValueError as exc:
            return self._ul_error(400, "INVALID_FILTER", f"The query filter is invalid: {exc}")
        size = min(max(int(request.arg("pageSize") or 50), 1), 1000)  # proto: 50, ≤1,000
        start = int(request.arg("pageToken") or 0)
        rows = [
            ul
            for ul in self.dm_lists.values()
            if ul.parent == parent and all(self._matches(ul, k, v) for k, v in wanted)
        ]
        body: dict[str, Any] = {}
        page = rows[start : start + size]
        if page:  # proto3 JSON omits an empty repeated field
            body["userLists"] = [ul.json() for ul in page]
        if start + size < len(rows):
            body["nextPageToken"] = str(start + size)
        return Response(200, body)

    def _ul_get(self, request: Request) -> Response:
        found = self._found(request)
        return found if isinstance(found, Response) else Response(200, found.json())

    def _ul_update(self, request: Request) -> Response:
        found = self._found(request)
        if isinstance(found, Response):
            return found
        mask = {
            re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), f.strip())
            for f in (request.arg("updateMask") or "").split(",")
            if f.strip()
        }
        if not mask or mask - _UPDATABLE:
            return self._ul_error(
                400, "IMMUTABLE_FIELD_FOR_UPDATE", f"update_mask {sorted(mask)} not allowed."
            )
        body = request.json() or {}
        copy = DataManagerList(**{k: getattr(found, k) for k in DataManagerList.__slots__})
        refused = self._apply_fields(copy, body, mask)
        if refused is not None:
            return refused
        if self._name_taken(found.parent, copy.display_name, found.id):
            return self._ul_error(
                400, "DISPLAY_NAME_ALREADY_USED", "The display name is already being used."
            )
        if request.arg("validateOnly") != "true":
            self.dm_lists[found.id] = copy
        return Response(200, copy.json())

    def _ul_delete(self, request: Request) -> Response:
        found = self._found(request)
        if isinstance(found, Response):
            return found
        if request.arg("validateOnly") != "true":
            del self.dm_lists[found.id]
            self._drop_destination(found.id)
        return Response(200, {})  # google.protobuf.Empty

    # ---- helpers --------------------------------------------------------------------------
    @staticmethod
    def _parent(request: Request) -> str:
        return f"accountTypes/{request.params['atype']}/accounts/{request.params['account']}"

    def _found(self, request: Request) -> DataManagerList | Response:
        found = self.dm_lists.get(request.params["list_id"])
        if found is None or found.parent != self._parent(request):
            return self.error_response(404, "Requested entity was not found.")
        return found

    def _name_taken(self, parent: str, display_name: str, own_id: str) -> bool:
        return any(
            ul.parent == parent and ul.display_name == display_name and ul.id != own_id
            for ul in self.dm_lists.values()
        )

    def _apply_fields(
        self, target: DataManagerList, body: dict[str, Any], fields: set[str]
    ) -> Response | None:
        if "display_name" in fields and "displayName" in body:
            target.display_name = str(body["displayName"]).strip()
        if "description" in fields and "description" in body:
            target.description = str(body["description"])
        if "membership_status" in fields and "membershipStatus" in body:
            status = _enum(body["membershipStatus"], _STATUSES)
            if status is None:
                return self._ul_error(400, "INVALID_ARGUMENT", "Invalid membership_status.")
            target.membership_status = status
        if "membership_duration" in fields and "membershipDuration" in body:
            raw = str(body["membershipDuration"])
            seconds = int(raw[:-1]) if raw.endswith("s") and raw[:-1].isdigit() else -1
            if seconds < 0 or seconds % _DAY:
                return self._ul_error(
                    400, "INVALID_ARGUMENT", "membership_duration must be whole days."
                )
            if seconds > _MAX_DAYS * _DAY:
                return self._ul_error(
                    400, "MEMBERSHIP_DURATION_TOO_LONG", "The membership duration is too long."
                )
            target.membership_duration = raw
        if "ingested" in fields:
            info = body.get("ingestedUserListInfo") or {}
            keys = [_enum(k, _UPLOAD_KEY_TYPES) for k in info.get("uploadKeyTypes") or []]
            source = _enum(
                (info.get("contactIdInfo") or {}).get("dataSourceType", 1), _DATA_SOURCES
            )
            if not keys or None in keys or source is None:
                return self._ul_error(
                    400, "INVALID_ARGUMENT", "ingested_user_list_info.upload_key_types is required."
                )
            target.upload_key_types = [k for k in keys if k is not None]
            target.data_source_type = source
        return None

    @staticmethod
    def _filter(text: str) -> list[tuple[str, str]]:
        """``field = "value"`` conditions joined by AND (the part of AIP-160 we serve)."""
        out: list[tuple[str, str]] = []
        for part in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
            found = _CONDITION.match(part)
            if found is None:
                raise ValueError(part[:80])
            name = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), found.group(1))
            if name not in ("display_name", "id", "description"):
                raise ValueError(f"unsupported field {found.group(1)}")
            value = found.group(2)
            value = re.sub(r"\\(.)", r"\1", value) if value is not None else found.group(3)
            out.append((name, value))
        return out

    @staticmethod
    def _matches(ul: DataManagerList, name: str, value: str) -> bool:
        return str(getattr(ul, name)) == value

    def _ul_error(self, status: int, reason: str, message: str) -> Response:
        detail = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": reason,
            "domain": "datamanager.googleapis.com",
        }
        return self.error_response(status, message, details=[detail])

    def user_lists_snapshot(self) -> dict[str, Any]:
        return {list_id: ul.json() for list_id, ul in self.dm_lists.items()}

    # provided by the emulator
    def error_response(self, status: int, message: str, **extra: object) -> Response:
        raise NotImplementedError

    def _new_destination(self, list_id: str) -> None:
        raise NotImplementedError

    def _drop_destination(self, list_id: str) -> None:
        raise NotImplementedError
