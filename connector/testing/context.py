"""Building blocks for plugin tests: an in-memory plugin state and a ready ``PluginContext``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from connector.plugin.spec import PluginContext

__all__ = ["MemoryState", "make_context"]


class MemoryState:
    """A ``KeyValueState`` kept in a dict: what the state store gives plugins, minus the disk."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def put(self, key: str, value: str) -> None:
        self.data[key] = value

    def items(self, prefix: str = "") -> Mapping[str, str]:
        return {k: v for k, v in self.data.items() if k.startswith(prefix)}


def make_context(
    workspace: Path, *, instance: str = "test", region: str = "US", run_id: str | None = None
) -> PluginContext:
    return PluginContext(
        instance=instance,
        workspace=workspace,
        state=MemoryState(),
        logger=logging.getLogger(f"connector.plugin.{instance}"),
        run_id=run_id,
        default_region=region,
    )
