"""The commented example config that `connector init` writes.

One source of truth: ``config.example.toml`` at the repository root, where users read it. A
built wheel carries it as ``connector/config/example.toml`` (hatch ``force-include`` in
pyproject.toml); a source checkout or an editable install reads the root file itself.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["PACKAGED", "example_config"]

PACKAGED = "example.toml"
_CHECKOUT = Path(__file__).resolve().parents[2] / "config.example.toml"


def example_config() -> str:
    packaged = files("connector.config").joinpath(PACKAGED)
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    return _CHECKOUT.read_text(encoding="utf-8")
