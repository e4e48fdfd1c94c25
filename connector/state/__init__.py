"""Operational state: cursors, the sync ledger, runs and errors, plugin memory, catalogue."""

from connector.state.catalogue import CatalogueEntry, SegmentCatalogue
from connector.state.cursors import CursorStore
from connector.state.kv import PluginStateStore
from connector.state.ledger import Ledger, LedgerEntry, membership_key, trait_key
from connector.state.runs import RecordError, RunRow, RunStore
from connector.state.store import StateStore

__all__ = [
    "CatalogueEntry",
    "CursorStore",
    "Ledger",
    "LedgerEntry",
    "PluginStateStore",
    "RecordError",
    "RunRow",
    "RunStore",
    "SegmentCatalogue",
    "StateStore",
    "membership_key",
    "trait_key",
]
