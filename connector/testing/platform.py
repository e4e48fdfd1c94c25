"""What the conformance suite talks to: a plugin's emulator, or a directory when it has none.

With an emulator the suite reads and steers it only through the shared admin endpoints
(``/__emulator__/state|requests|faults``), so it needs nothing platform-specific. Without one,
the platform is a scratch directory: sources read the builders' data written there, and a sink's
"state" is the set of files it wrote.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connector.plugin.spec import Emulator

__all__ = ["Platform", "admin", "platform_requests", "snapshot"]


@dataclass(frozen=True, slots=True)
class Platform:
    """``location`` is what the target's ``settings`` receives: the emulator's base URL, or the
    scratch ``directory`` of a plugin without an emulator."""

    emulator: Emulator | None
    directory: Path

    @property
    def location(self) -> str:
        return self.emulator.base_url if self.emulator is not None else str(self.directory)

    def state(self) -> Any:
        """The emulator's state, or what was written under the directory."""
        if self.emulator is not None:
            return admin(self.emulator, "GET", "state")
        return snapshot(self.directory)


def admin(emulator: Emulator, method: str, name: str, body: object = None) -> Any:
    url = f"{emulator.base_url}/__emulator__/{name}"
    response = httpx.request(method, url, json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def platform_requests(emulator: Emulator) -> list[dict[str, Any]]:
    """The platform requests in the log once complete (a server may record a request just
    after answering it); admin requests, including these reads, are left out."""

    def read() -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = admin(emulator, "GET", "requests")["requests"]
        return [e for e in entries if not str(e["path"]).startswith("/__emulator__")]

    entries = read()
    while True:
        time.sleep(0.05)
        again = read()
        if len(again) == len(entries):
            return again
        entries = again


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every visible file under ``directory`` by relative path (temporary dot-files left out)."""
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }
