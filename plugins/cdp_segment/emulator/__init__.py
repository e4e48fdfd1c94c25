"""The Segment emulator: Tracking API and Profile API, plus the S3 archive writer it seeds from."""

from cdp_segment.emulator.server import SegmentEmulator

__all__ = ["SegmentEmulator"]
