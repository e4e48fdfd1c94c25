"""Provisioning a HubSpot portal before the sink writes: a property group, typed properties, lists.

Everything is found before it is created (HubSpot answers 409 for a duplicate property or group
and refuses a second list with the same name), so ``prepare`` is idempotent and cheap on later
runs: one read of all contact properties, one group read, one read per list.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from cdp_hubspot.client import HubSpotApiError, HubSpotClient
from cdp_hubspot.settings import HubSpotSettings
from cdp_hubspot.traits import definition
from connector.sdk import ConfigError, KeyValueState, SegmentRef, TraitSpec

__all__ = ["ensure_group", "ensure_list", "ensure_properties"]

_WRITABLE_LISTS = ("MANUAL", "SNAPSHOT")  # HubSpot refuses membership writes on DYNAMIC lists


def ensure_group(client: HubSpotClient, settings: HubSpotSettings) -> None:
    groups = client.sdk.crm.properties.groups_api
    try:
        client.call(
            "property group read",
            lambda: groups.get_by_name("contacts", settings.property_group, **client.timeout),
        )
    except HubSpotApiError as exc:
        if exc.status != 404:
            raise
    else:
        return
    body = {
        "name": settings.property_group,
        "label": settings.property_group_label,
        "displayOrder": -1,
    }
    try:
        client.call(
            "property group create",
            lambda: groups.create("contacts", property_group_create=body, **client.timeout),
        )
    except HubSpotApiError as exc:
        if exc.status != 409:  # created concurrently by another run: fine
            raise


def _options(prop: Any) -> list[str]:
    return [str(o.value) for o in prop.options or []]


def ensure_properties(
    client: HubSpotClient, settings: HubSpotSettings, traits: Sequence[TraitSpec]
) -> None:
    core = client.sdk.crm.properties.core_api
    existing = {
        p.name: p
        for p in client.call(
            "properties read", lambda: core.get_all("contacts", **client.timeout)
        ).results
        or []
    }
    for spec in traits:
        want = definition(spec, settings.property_group)
        have = existing.get(want["name"])
        if have is None:
            client.call(
                f"property create {want['name']}",
                partial(core.create, "contacts", property_create=want, **client.timeout),
            )
            continue
        patch: dict[str, Any] = {}
        if (have.type, have.field_type) != (want["type"], want["fieldType"]):
            if have.group_name != settings.property_group:
                raise ConfigError(
                    f"HubSpot property {want['name']!r} exists as {have.type} in group "
                    f"{have.group_name!r}; rename the trait or the property"
                )
            patch.update(type=want["type"], fieldType=want["fieldType"])
        if "options" in want and _options(have) != [o["value"] for o in want["options"]]:
            patch["options"] = want["options"]  # keep enumeration options in sync with the trait
        if patch:
            client.call(
                f"property update {want['name']}",
                partial(
                    core.update, "contacts", want["name"], property_update=patch, **client.timeout
                ),
            )


def ensure_list(
    client: HubSpotClient, settings: HubSpotSettings, state: KeyValueState, segment: SegmentRef
) -> str:
    """The id of the segment's MANUAL list: remembered, else found by name, else created."""
    lists = client.sdk.crm.lists.lists_api
    name = f"{settings.list_prefix}{segment.name}"
    key = f"list:{segment.id}"
    remembered = state.get(key)
    found: Any = None
    if remembered:
        try:
            found = client.call(
                "list read", lambda: lists.get_by_id(remembered, **client.timeout)
            ).list
        except HubSpotApiError as exc:
            if exc.status != 404:
                raise
    if found is None:
        found = _by_name(client, name)
    if found is None:
        body = {"name": name, "objectTypeId": "0-1", "processingType": "MANUAL"}
        try:
            found = client.call(
                "list create", lambda: lists.create(list_create_request=body, **client.timeout)
            ).list
        except HubSpotApiError:
            found = _by_name(client, name)  # lost a race to another run: use that list
            if found is None:
                raise
    if found.processing_type not in _WRITABLE_LISTS:
        raise ConfigError(
            f"HubSpot list {found.name!r} is {found.processing_type}; membership writes need a "
            "MANUAL list: rename it or change list_prefix"
        )
    state.put(key, str(found.list_id))
    return str(found.list_id)


def _by_name(client: HubSpotClient, name: str) -> Any:
    lists = client.sdk.crm.lists.lists_api
    try:
        return client.call(
            "list read by name",
            lambda: lists.get_by_name(name, "0-1", **client.timeout),
        ).list
    except HubSpotApiError as exc:
        if exc.status != 404:
            raise
        return None
