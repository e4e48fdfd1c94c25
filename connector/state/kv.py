"""Plugin memory in the state store (list ids a sink created, tokens' expiry, ...)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select

from connector.state.schema import plugin_state
from connector.state.store import StateStore

__all__ = ["PluginStateStore"]


class PluginStateStore:
    """A ``KeyValueState`` namespaced to one plugin instance."""

    def __init__(self, store: StateStore, namespace: str) -> None:
        self._engine = store.engine
        self.namespace = namespace

    def get(self, key: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(plugin_state.c.value).where(
                    plugin_state.c.namespace == self.namespace, plugin_state.c.key == key
                )
            ).first()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                plugin_state.delete().where(
                    plugin_state.c.namespace == self.namespace, plugin_state.c.key == key
                )
            )
            conn.execute(
                plugin_state.insert().values(namespace=self.namespace, key=key, value=value)
            )

    def items(self, prefix: str = "") -> Mapping[str, str]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(plugin_state.c.key, plugin_state.c.value).where(
                    plugin_state.c.namespace == self.namespace,
                    plugin_state.c.key.startswith(prefix, autoescape=True),
                )
            )
            return {r[0]: r[1] for r in rows}
