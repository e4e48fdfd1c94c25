"""Suite-wide fixtures: loopback-only network, and builders for workspaces with file plugins."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"tests may only connect to loopback addresses, not {host!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    return


def write_config(root: Path, extra: str = "", *, as_of: str = "2011-12-10") -> Path:
    """A files-in, files-out pipeline under ``root`` (inputs in root/data, outputs in root/out)."""
    (root / "data" / "profiles").mkdir(parents=True, exist_ok=True)
    (root / "data" / "events").mkdir(parents=True, exist_ok=True)
    cfg = root / "connector.toml"
    cfg.write_text(
        f"""
[workspace]
path = ".connector"

[identity]
default_region = "GB"

[model]
as_of = "{as_of}"

[sources.shop]
plugin = "files"
path = "data"
lookback = "1h"

[destinations.export]
plugin = "files"
path = "out"
batch_size = 1000
{extra}
"""
    )
    return cfg
