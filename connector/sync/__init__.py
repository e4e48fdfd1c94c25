"""Plan (diff desired state against the ledger) and apply (batched, acknowledged) sync.

The vocabulary both sides speak (``Change``, ``Outcome``, ...) is the plugin contract's:
``connector.plugin.changes``.
"""
