"""Finds plugins through entry points, loads them lazily, and isolates broken ones.

A plugin that fails to import or exports something that is not a ``PluginSpec`` is recorded as
broken with the reason and skipped: one bad third-party distribution never takes the others down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from connector.errors import ConfigError
from connector.logs import adopt_plugin_logger
from connector.plugin.spec import PluginSpec

__all__ = ["ENTRY_POINT_GROUP", "BrokenPlugin", "PluginRegistry"]

ENTRY_POINT_GROUP = "cdp_connector.plugins"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokenPlugin:
    name: str
    target: str
    reason: str


class PluginRegistry:
    """Name → entry point, resolved to a ``PluginSpec`` on first use."""

    def __init__(self, eps: list[EntryPoint] | None = None) -> None:
        found = eps if eps is not None else list(entry_points(group=ENTRY_POINT_GROUP))
        self._eps = {ep.name: ep for ep in sorted(found, key=lambda e: e.name)}
        self._loaded: dict[str, PluginSpec[Any]] = {}
        self._broken: dict[str, BrokenPlugin] = {}

    def names(self) -> list[str]:
        return list(self._eps)

    def get(self, name: str) -> PluginSpec[Any]:
        """Return the spec, or raise ``ConfigError`` naming why it is unavailable."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._eps:
            known = ", ".join(self._eps) or "none"
            raise ConfigError(f"unknown plugin {name!r} (installed: {known})")
        spec = self._load(name)
        if spec is None:
            raise ConfigError(f"plugin {name!r} is broken: {self._broken[name].reason}")
        return spec

    def load_all(self) -> tuple[list[PluginSpec[Any]], list[BrokenPlugin]]:
        specs = [s for n in self._eps if (s := self._load(n)) is not None]
        return specs, list(self._broken.values())

    def _load(self, name: str) -> PluginSpec[Any] | None:
        if name in self._loaded:
            return self._loaded[name]
        if name in self._broken:
            return None
        ep = self._eps[name]
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure of a third party is isolated
            self._broken[name] = BrokenPlugin(name, ep.value, f"{type(exc).__name__}: {exc}")
            log.warning("plugin %s failed to load and is skipped: %s", name, exc)
            return None
        if not isinstance(obj, PluginSpec):
            reason = f"{ep.value} is a {type(obj).__name__}, not a PluginSpec"
            self._broken[name] = BrokenPlugin(name, ep.value, reason)
            log.warning("plugin %s is skipped: %s", name, reason)
            return None
        adopt_plugin_logger(ep.value.partition(":")[0].partition(".")[0])
        self._loaded[name] = obj
        return obj
