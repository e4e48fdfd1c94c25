from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cdp_klaviyo import KlaviyoSettings
from cdp_klaviyo.emulator import KlaviyoEmulator
from connector.plugin.spec import EmulatorOptions, PluginContext
from connector.testing.context import make_context


@pytest.fixture
def emulator() -> Iterator[KlaviyoEmulator]:
    with KlaviyoEmulator(EmulatorOptions(seed_profiles=60, limits="off", seed=7)) as emu:
        yield emu


@pytest.fixture
def settings(emulator: KlaviyoEmulator) -> KlaviyoSettings:
    return KlaviyoSettings(api_key="pk_test", base_url=emulator.base_url, poll_interval=0.01)


@pytest.fixture
def ctx(tmp_path: Path) -> PluginContext:
    return make_context(tmp_path, instance="klaviyo")


@pytest.fixture(autouse=True)
def _quiet_sdk() -> None:
    logging.getLogger("urllib3").setLevel(logging.ERROR)
