from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from connector.plugin.spec import EmulatorOptions
from connector.testing.context import make_context

from cdp_meta import SPEC as META
from cdp_meta.emulator import MetaEmulator


@pytest.fixture
def meta_emulator() -> Iterator[MetaEmulator]:
    with MetaEmulator(EmulatorOptions(limits="off")) as emu:
        yield emu


@pytest.fixture
def meta_sink(meta_emulator: MetaEmulator, tmp_path: Path):
    def make(**overrides: object):
        raw = {
            "ad_account_id": "111",
            "access_token": MetaEmulator.access_token,
            "app_secret": "s3cret",
            "base_url": meta_emulator.base_url,
            "max_retry_seconds": 20,
            **overrides,
        }
        settings = META.settings_model.model_validate(raw)
        return META.sink(settings, make_context(tmp_path))  # type: ignore[misc]

    return make
