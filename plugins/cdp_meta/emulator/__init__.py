"""The Meta emulator: a local Graph API for Custom Audiences (see ARCHITECTURE.md, Emulators)."""

from cdp_meta.emulator.server import MetaEmulator, seeded_email

__all__ = ["MetaEmulator", "seeded_email"]
