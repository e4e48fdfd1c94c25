"""Fixtures for a plugin's own tests, enabled from the test suite's root ``conftest.py``::

    pytest_plugins = ["connector.testing.pytest_plugin"]

They give what most plugin tests start from: a ``PluginContext`` on a temporary workspace, the
builders' canonical profiles and events, and a directory holding them as JSON lines. The
conformance suite itself needs none of them (``conformance_suite`` is enough).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.plugin.spec import PluginContext
from connector.testing import builders
from connector.testing.conformance import ConformanceTarget, conformance_suite
from connector.testing.context import make_context

__all__ = [
    "ConformanceTarget",
    "canonical_events",
    "canonical_profiles",
    "conformance_suite",
    "input_dir",
    "plugin_context",
]


@pytest.fixture
def plugin_context(tmp_path: Path) -> PluginContext:
    """What the core hands a factory: a workspace under ``tmp_path``, in-memory plugin state."""
    return make_context(tmp_path / "workspace")


@pytest.fixture
def canonical_profiles() -> list[dict[str, Any]]:
    """Twenty canonical profile records (``builders.profiles(20)``)."""
    return builders.profiles(20)


@pytest.fixture
def canonical_events() -> list[dict[str, Any]]:
    """Forty canonical order events of those twenty people."""
    return builders.events(40, people=20)


@pytest.fixture
def input_dir(
    tmp_path: Path,
    canonical_profiles: list[dict[str, Any]],
    canonical_events: list[dict[str, Any]],
) -> Path:
    """A directory with ``profiles/people.jsonl`` and ``events/orders.jsonl`` from the builders,
    the files dated at ``builders.EPOCH`` (before their records' marks)."""
    root = tmp_path / "input"
    dated = builders.EPOCH
    builders.write_jsonl(root / "profiles" / "people.jsonl", canonical_profiles, modified=dated)
    builders.write_jsonl(root / "events" / "orders.jsonl", canonical_events, modified=dated)
    return root
