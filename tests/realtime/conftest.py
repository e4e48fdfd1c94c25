"""Fixtures of the stream tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.sdk import EmulatorOptions


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoEmulator]:
    """A Klaviyo emulator with its limits off (the stream's logic, not pacing, is tested)."""
    with KlaviyoEmulator(EmulatorOptions(limits="off")) as emu:
        yield emu
