"""The Google emulator: Data Manager API, OAuth token endpoint and the Ads API's user lists."""

from cdp_google_ads.emulator.server import GoogleAdsEmulator, match_rate_range

__all__ = ["GoogleAdsEmulator", "match_rate_range"]
