"""The connection-check part of the conformance suite (``PluginSpec.check_connection``).

Every plugin declares a check; against its emulator the kit proves that good settings pass, that
refused credentials fail with the emulator's host named, that a closed port fails without a
single request and with that port named, and that a failing platform is asked once (no retries:
a check must answer in seconds).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import pytest

from connector.plugin.protocols import CheckRole, ConnectionCheck
from connector.plugin.spec import Capability
from connector.testing import builders
from connector.testing.context import make_context
from connector.testing.platform import Platform, admin, platform_requests

if TYPE_CHECKING:
    from pathlib import Path

    from connector.testing.conformance import ConformanceTarget

__all__ = ["ConnectionCheckConformance"]

_SOURCE = frozenset({Capability.SOURCE_PROFILES, Capability.SOURCE_EVENTS})
_SINK = frozenset({Capability.SINK_TRAITS, Capability.SINK_LISTS, Capability.SINK_AUDIENCES})


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class ConnectionCheckConformance:
    target: ClassVar[ConformanceTarget]

    def _roles(self) -> list[CheckRole]:
        spec = self.target.spec
        roles: list[CheckRole] = []
        if spec.source is not None and spec.capabilities & _SOURCE:
            roles.append("source")
        if spec.sink is not None and spec.capabilities & _SINK:
            roles.append("sink")
        return roles

    def _check(
        self, tmp_path: Path, raw: dict[str, Any]
    ) -> dict[CheckRole, Sequence[ConnectionCheck]]:
        spec = self.target.spec
        assert spec.check_connection is not None
        settings = spec.settings_model.model_validate(raw)
        context = make_context(tmp_path / "check")
        return {role: spec.check_connection(settings, context, role) for role in self._roles()}

    def test_declares_a_connection_check(self) -> None:
        assert self.target.spec.check_connection is not None, (
            f"{self.target.spec.name}: PluginSpec.check_connection is not set"
        )

    def test_connection_check_passes(self, platform: Platform, tmp_path: Path) -> None:
        if self.target.seed is not None:  # a files source checks that its input is there
            n = self.target.seed_profiles
            self.target.seed(platform.directory, builders.profiles(n), builders.events(n, people=n))
        results = self._check(tmp_path, self.target.settings(platform.location))
        checked = [r for found in results.values() for r in found]
        assert checked, "the check tried nothing for any role"
        assert all(r.ok for r in checked), [r for r in checked if not r.ok]

    def _emulated(self, platform: Platform) -> Any:
        if platform.emulator is None:
            pytest.skip(f"{self.target.spec.name} has no emulator to connect to")
        return platform.emulator

    def test_refused_credentials_name_the_host(self, platform: Platform, tmp_path: Path) -> None:
        emulator = self._emulated(platform)
        if self.target.refuse is None:
            pytest.skip(f"{self.target.spec.name} takes no credentials")
        raw = self.target.refuse(emulator, self.target.settings(platform.location))
        failed = [r for found in self._check(tmp_path, raw).values() for r in found if not r.ok]
        assert failed, "refused credentials passed the check"
        host = urlsplit(emulator.base_url).netloc
        for result in failed:
            assert result.host == host
            assert result.status == 401, result
            assert result.fix, "a failed check says what to fix"

    def test_closed_port_names_host_and_sends_nothing(
        self, platform: Platform, tmp_path: Path
    ) -> None:
        emulator = self._emulated(platform)
        raw = self.target.settings(platform.location)
        dead = f"http://127.0.0.1:{closed_port()}"
        moved = {
            k: dead + v[len(emulator.base_url) :]
            if isinstance(v, str) and v.startswith(emulator.base_url)
            else v
            for k, v in raw.items()
        }
        results = [r for found in self._check(tmp_path, moved).values() for r in found]
        assert results
        assert not any(r.ok for r in results)
        for result in results:
            assert result.status is None
            assert result.host == dead.removeprefix("http://")
            assert result.host in result.detail
            assert result.fix
        assert platform_requests(emulator) == []

    def test_failing_platform_is_asked_once(self, platform: Platform, tmp_path: Path) -> None:
        emulator = self._emulated(platform)
        admin(emulator, "POST", "faults", {"rules": [{"path": "*", "status": 503, "rate": 1.0}]})
        try:
            results = [
                r
                for found in self._check(tmp_path, self.target.settings(platform.location)).values()
                for r in found
            ]
        finally:
            admin(emulator, "POST", "faults", {"rules": []})
        assert results
        assert all(r.status == 503 and not r.ok for r in results)
        assert len(platform_requests(emulator)) == len(results), "a check must not retry"
