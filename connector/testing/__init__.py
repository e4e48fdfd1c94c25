"""The kit for plugin tests: the conformance suite (``conformance``), data builders
(``builders``), pytest fixtures (``pytest_plugin``) and a ready ``PluginContext`` (``context``).

Only the light context helpers are imported here; the suite imports pytest and is imported by
name from a test file.
"""

from connector.testing.context import MemoryState, make_context

__all__ = ["MemoryState", "make_context"]
