"""How the runner tells a person what it is doing, without knowing about terminals."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["NullReporter", "Reporter"]

Advance = Callable[[int], None]


class Reporter(Protocol):
    def stage(self, name: str, total: int | None = None) -> AbstractContextManager[Advance]: ...

    def info(self, message: str) -> None: ...


class NullReporter:
    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Advance]:
        yield lambda _n: None

    def info(self, message: str) -> None:
        return None
