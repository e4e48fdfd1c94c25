"""Fixtures for the HubSpot plugin tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cdp_hubspot.emulator import HubSpotEmulator
from connector.plugin.spec import EmulatorOptions


@pytest.fixture
def emulator() -> Iterator[HubSpotEmulator]:
    with HubSpotEmulator(EmulatorOptions(limits="off")) as emu:
        yield emu
