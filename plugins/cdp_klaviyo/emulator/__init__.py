"""The Klaviyo emulator (see ARCHITECTURE.md, Emulators)."""

from cdp_klaviyo.emulator.server import KlaviyoEmulator

__all__ = ["KlaviyoEmulator"]
