"""The request log every emulator keeps, served at ``GET /__emulator__/requests``."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RecordedRequest", "RequestRecorder"]


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int
    time: float
    duration_ms: float
    body: str | None

    def to_json(self, *, with_body: bool) -> dict[str, Any]:
        data = asdict(self)
        if not with_body:
            data.pop("body")
        return data


class RequestRecorder:
    def __init__(self, *, keep_bodies: bool = True) -> None:
        self._log: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self.keep_bodies = keep_bodies

    def add(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        status: int,
        started: float,
        body: bytes,
    ) -> None:
        text = body.decode("utf-8", "replace") if (self.keep_bodies and body) else None
        entry = RecordedRequest(
            method, path, query, status, started, (time.time() - started) * 1000, text
        )
        with self._lock:
            self._log.append(entry)

    def entries(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._log.clear()
