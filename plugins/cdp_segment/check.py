"""``connector check`` for Segment: each configured part is tried without sending data.

- sink: an empty batch to the Tracking API with the write key (``{"batch": []}`` records
  nothing); the emulator refuses an unknown key with 401. The real API is lenient with write
  keys, so there a pass proves the host and port, not the key (segment-docs, HTTP API
  "Errors": a 200 "for all API requests except errors caused by large payloads and JSON
  errors").
- source: the Profile API (a user id no one has: 404 means the token passed, 401 it did not)
  and the archive folder or bucket; the webhook spool is local and needs no check.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx

from cdp_segment.archive import ArchiveStore
from cdp_segment.settings import SegmentSettings
from connector.sdk import (
    CheckRole,
    ConnectionCheck,
    PluginContext,
    ProbeHints,
    host_of,
    judge,
    send_once,
    unreachable,
)

__all__ = ["check_connection"]

_NOBODY = "user_id:cdp-connector-connection-check"


def _tracking(settings: SegmentSettings) -> ConnectionCheck:
    hints = ProbeHints("write_key")
    if settings.write_key is None:
        return ConnectionCheck(
            "tracking API",
            host_of(settings.base_url),
            ok=False,
            detail="no write_key set",
            fix="set write_key (env var or secrets file) to send to Segment",
        )
    url = f"{settings.base_url}/v1/batch"
    try:
        answer = send_once(
            "POST", url, json={"batch": []}, auth=(settings.write_key.get_secret_value(), "")
        )
    except httpx.TransportError as exc:
        return unreachable("tracking API", url, exc, hints)
    return judge("tracking API", url, answer.status_code, hints)


def _profile_api(settings: SegmentSettings) -> ConnectionCheck:
    assert settings.profile_api_token is not None  # noqa: S101 - checked by the caller
    hints = ProbeHints("profile_api_token", account="space_id", url="profile_api_url")
    url = (
        f"{settings.profile_api_url}/v1/spaces/{settings.space_id}"
        f"/collections/users/profiles/{_NOBODY}/traits"
    )
    try:
        answer = send_once("GET", url, auth=(settings.profile_api_token.get_secret_value(), ""))
    except httpx.TransportError as exc:
        return unreachable("Profile API", url, exc, hints)
    status = 200 if answer.status_code == 404 else answer.status_code  # nobody, as asked
    return judge("Profile API", url, status, hints)


def _archive(settings: SegmentSettings, context: PluginContext) -> ConnectionCheck:
    url = settings.archive_url or ""
    local = "://" not in url or url.startswith("file://")
    if local:
        path = Path(url.removeprefix("file://"))
        path = path if path.is_absolute() else context.config_dir / path
        ok = path.is_dir()
        return ConnectionCheck(
            "archive",
            str(path),
            ok=ok,
            detail="folder found" if ok else "no such folder",
            fix="" if ok else "check archive_url",
        )
    try:
        store = ArchiveStore(url, settings.storage_options)
        ok = bool(store._fs.exists(store.root))
    except Exception as exc:  # noqa: BLE001 - any fsspec backend's error is a failed check
        return ConnectionCheck(
            "archive",
            host_of(url),
            ok=False,
            detail=f"cannot list it ({type(exc).__name__})",
            fix="check archive_url and storage_options (credentials, region)",
        )
    return ConnectionCheck(
        "archive",
        host_of(url),
        ok=ok,
        detail="bucket readable" if ok else "no segment-logs",
        fix="" if ok else "check archive_url: it should hold segment-logs/",
    )


def check_connection(
    settings: SegmentSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    if role == "sink":
        return [_tracking(settings)]
    checks = []
    if settings.space_id and settings.profile_api_token is not None:
        checks.append(_profile_api(settings))
    if settings.archive_url:
        checks.append(_archive(settings, context))
    return checks
