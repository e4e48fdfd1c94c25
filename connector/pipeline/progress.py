"""Progress of a run: how the runner tells a person what it is doing, without knowing about
terminals (the CLI draws it with `connector.cli.progress.RichProgress`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["NoProgress", "Progress"]

Advance = Callable[[int], None]


class Progress(Protocol):
    def stage(self, name: str, total: int | None = None) -> AbstractContextManager[Advance]: ...

    def info(self, message: str) -> None: ...


class NoProgress:
    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Advance]:
        yield lambda _n: None

    def info(self, message: str) -> None:
        return None
