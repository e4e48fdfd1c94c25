"""The README's example plugin, installed the way pip would leave it, run through a pipeline.

Installing is a ``*.dist-info`` directory (METADATA and the entry points from the example's own
pyproject) on a temporary ``sys.path`` entry: that is what ``importlib.metadata`` sees of an
installed distribution, so the real registry finds the plugin, offline and without a build.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from cdp_example import SPEC

from connector.config import load_config
from connector.pipeline import Workspace, run_pipeline
from connector.plugin.changes import TraitSpec
from connector.plugin.registry import ENTRY_POINT_GROUP, PluginRegistry
from connector.testing import builders
from connector.testing.conformance import ConformanceTarget, conformance_suite

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cdp_example"


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    info = tmp_path / "site" / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"][ENTRY_POINT_GROUP]
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(info.parent))


def test_the_registry_finds_the_installed_example(installed: None) -> None:
    registry = PluginRegistry()
    assert "example" in registry.names()
    assert registry.get("example") is SPEC
    assert not registry.load_all()[1], "no plugin is broken"


def test_not_installed_it_is_unknown() -> None:
    assert "example" not in PluginRegistry().names()


def _config(root: Path) -> Path:
    cfg = root / "connector.toml"
    cfg.write_text(
        """
[workspace]
path = ".connector"

[model]
as_of = "2024-03-01"
engine = "rfm"

[sources.shop]
plugin = "files"
path = "shop"

[sources.crm]
plugin = "example"
path = "crm"

[destinations.sheet]
plugin = "example"
path = "sheet"
"""
    )
    return cfg


def _run(cfg: Path) -> Any:
    ws = Workspace(load_config(cfg, env={}))
    try:
        return run_pipeline(ws)
    finally:
        ws.close()


def test_a_pipeline_reads_from_and_writes_to_the_example(installed: None, tmp_path: Path) -> None:
    builders.write_jsonl(tmp_path / "shop" / "profiles" / "p.jsonl", builders.profiles(20))
    builders.write_jsonl(tmp_path / "shop" / "events" / "e.jsonl", builders.events(60, people=20))
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "profiles.json").write_text(json.dumps(builders.profiles(5, start=20)))
    cfg = _config(tmp_path)
    first = _run(cfg)
    assert first.status == "completed"
    assert first.counts["applied"] == first.counts["planned"] > 0
    sheet = pd.read_csv(tmp_path / "sheet" / "traits.csv", dtype=str)
    assert len(sheet) == 25, "one row per person, from both sources"
    assert sheet["profile_id"].is_unique
    assert _run(cfg).counts["planned"] == 0


def _seed(root: Path, profiles: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    (root / "profiles.json").write_text(json.dumps(profiles))


TestExampleConformance = conformance_suite(
    ConformanceTarget(
        spec=SPEC,
        settings=lambda directory: {"path": directory},
        seed=_seed,
        traits=(TraitSpec("score", "number", "Score"), TraitSpec("vip", "bool", "VIP")),
    )
)
