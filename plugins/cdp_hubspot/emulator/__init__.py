"""A local fake of the HubSpot CRM API for tests, benchmarks and ``connector demo``."""

from cdp_hubspot.emulator.server import HubSpotEmulator

__all__ = ["HubSpotEmulator"]
