"""HubSpot's GDPR delete (``POST /crm/v3/objects/contacts/gdpr-delete``), emulated.

Per the CRM contacts API reference ("GDPR delete"; hubspot-api-client's
``crm.contacts.basic_api.purge``): the body is ``{"objectId": ..., "idProperty": "email"}``
(``idProperty`` optional: without it ``objectId`` is the record id); the contact and its content
are deleted permanently and the answer is 204 No Content. An email that matches no contact is
put on a blocklist instead, which the emulator counts. Its state records each request (how the
contact was named, whether one was deleted), not the identifier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.sdk import Request, Response

if TYPE_CHECKING:
    from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["GdprRoutes"]


class GdprRoutes:
    def __init__(self, emu: HubSpotEmulator) -> None:
        self.emu = emu
        self.requests: list[dict[str, object]] = []

    def register(self) -> None:
        self.emu.route("POST", "/crm/v3/objects/contacts/gdpr-delete", self.purge)

    def purge(self, request: Request) -> Response:
        body = request.json() or {}
        object_id = str(body.get("objectId") or "").strip()
        by = str(body.get("idProperty") or "hs_object_id")
        if not object_id or by not in ("email", "hs_object_id"):
            return self.emu.error_response(400, "objectId (and idProperty email) are required")
        store = self.emu.contacts
        rid = store.by_email.get(object_id.lower()) if by == "email" else object_id
        removed = store.remove(rid) if rid else None
        if removed is not None:
            for members in self.emu.members.values():
                members.pop(removed.id, None)
        self.requests.append(
            {"by": by, "deleted": int(removed is not None), "blocklisted": int(removed is None)}
        )
        return Response(204)
