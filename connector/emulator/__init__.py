"""Shared machinery for local fakes of the platforms (see ARCHITECTURE.md, Emulators)."""

from connector.emulator.faults import FaultInjector, FaultRule
from connector.emulator.ratelimit import RateLimit, RateLimiter
from connector.emulator.recorder import RecordedRequest, RequestRecorder
from connector.emulator.server import EmulatorServer, ErrorAnswer, Request, Response, Route

__all__ = [
    "EmulatorServer",
    "ErrorAnswer",
    "FaultInjector",
    "FaultRule",
    "RateLimit",
    "RateLimiter",
    "RecordedRequest",
    "Request",
    "RequestRecorder",
    "Response",
    "Route",
]
