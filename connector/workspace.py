"""The workspace: one directory holding the data store, the state store and run reports."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from pathlib import Path

from connector.config.models import AppConfig
from connector.plugin.registry import PluginRegistry
from connector.plugin.spec import PluginContext
from connector.state import (
    CursorStore,
    Ledger,
    PluginStateStore,
    RunStore,
    SegmentCatalogue,
    StateStore,
)
from connector.store.datastore import DataStore

__all__ = ["Workspace"]


class Workspace:
    """Opens stores on first use; created with owner-only permissions."""

    def __init__(self, config: AppConfig, registry: PluginRegistry | None = None) -> None:
        self.config = config
        self.registry = registry or PluginRegistry()
        self.path: Path = config.workspace.path
        self.path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)
        self.config_dir = config.config_path.resolve().parent if config.config_path else Path.cwd()

    @cached_property
    def state(self) -> StateStore:
        return StateStore.for_workspace(self.path, self.config.workspace.state_url)

    @cached_property
    def data(self) -> DataStore:
        return DataStore(self.path / "data.duckdb", self.config.workspace.memory_limit)

    @cached_property
    def cursors(self) -> CursorStore:
        return CursorStore(self.state)

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.state)

    @cached_property
    def runs(self) -> RunStore:
        return RunStore(self.state)

    @cached_property
    def catalogue(self) -> SegmentCatalogue:
        return SegmentCatalogue(self.state)

    def plugin_context(self, kind: str, instance: str, run_id: str | None) -> PluginContext:
        return PluginContext(
            instance=instance,
            workspace=self.path,
            state=PluginStateStore(self.state, f"{kind}.{instance}"),
            logger=logging.getLogger(f"connector.plugin.{instance}"),
            run_id=run_id,
            default_region=self.config.identity.default_region,
            config_dir=self.config_dir,
            written_traits=self.ledger.trait_names() if kind == "sources" else frozenset(),
        )

    def close(self) -> None:
        if "data" in self.__dict__:
            self.data.close()
        if "state" in self.__dict__:
            self.state.close()
