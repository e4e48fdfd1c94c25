"""Fixtures shared by the ad sink tests (meta/, google_ads/ and the Done-when scenario).

The directory goes on ``sys.path`` so their tests import ``ads_driver`` from here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from cdp_meta import SPEC as META
from cdp_meta.emulator import MetaEmulator
from connector.plugin.spec import EmulatorOptions, PluginContext
from connector.testing.context import make_context


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


from cdp_google_ads import SPEC as GOOGLE  # noqa: E402
from cdp_google_ads.emulator import GoogleAdsEmulator  # noqa: E402


@pytest.fixture
def google_emulator() -> Iterator[GoogleAdsEmulator]:
    with GoogleAdsEmulator(EmulatorOptions(limits="off")) as emu:
        yield emu


@pytest.fixture
def google_sink(google_emulator: GoogleAdsEmulator, tmp_path: Path):
    """A sink factory; pass ``context`` to share plugin state between sinks (runs)."""

    def make(context: PluginContext | None = None, **overrides: object):
        raw = {
            "operating_account_id": "1234567890",
            "user_lists": {"high_value": "9001", "at_risk": "9002", "lapsed": "9003"},
            "base_url": google_emulator.base_url,
            "token_url": f"{google_emulator.base_url}/token",
            "client_id": GoogleAdsEmulator.client_id,
            "client_secret": GoogleAdsEmulator.client_secret,
            "refresh_token": GoogleAdsEmulator.refresh_token,
            "terms_of_service_accepted": True,
            "status_poll_interval": 0.05,
            "max_retry_seconds": 20,
            **overrides,
        }
        settings = GOOGLE.settings_model.model_validate(raw)
        sink = GOOGLE.sink(settings, context or make_context(tmp_path))  # type: ignore[misc]
        made.append(sink)
        return sink

    made: list = []  # type: ignore[type-arg]
    yield make
    for sink in made:
        sink.close()


@pytest.fixture(scope="module")
def service_account() -> dict[str, object]:
    """Settings overrides that swap the refresh token for a service account with a fresh key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return {
        "refresh_token": None,
        "client_id": None,
        "client_secret": None,
        "service_account_email": "sync@project.iam.gserviceaccount.com",
        "service_account_private_key": pem,
    }
