"""Test kit for plugins: fixtures, builders and (growing) the conformance suite."""

from connector.testing.context import MemoryState, make_context

__all__ = ["MemoryState", "make_context"]
