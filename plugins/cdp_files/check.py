"""``connector check`` for files: the folder a source reads exists, the one a sink writes can
be written (no network: the "host" is the folder)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from cdp_files.settings import FilesSettings
from connector.sdk import CheckRole, ConnectionCheck, PluginContext

__all__ = ["check_connection"]


def check_connection(
    settings: FilesSettings, context: PluginContext, role: CheckRole
) -> Sequence[ConnectionCheck]:
    path = settings.path if settings.path.is_absolute() else context.config_dir / settings.path
    if role == "source":
        ok = path.is_dir() and os.access(path, os.R_OK | os.X_OK)
        detail = "folder readable" if ok else "no readable folder here"
        fix = "" if ok else "check path: create the folder or point path at your input files"
    else:
        parent = next((p for p in (path, *path.parents) if p.exists()), path)
        ok = os.access(parent, os.W_OK | os.X_OK)
        detail = "folder writable" if ok else f"{parent} is not writable"
        fix = "" if ok else "check path: point it at a folder this user may write"
    return [ConnectionCheck("folder", str(path), ok=ok, detail=detail, fix=fix)]
