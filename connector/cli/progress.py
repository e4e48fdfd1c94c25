"""Rich progress for long stages; silent when output is not a terminal or logs are JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from connector.redaction import redact

__all__ = ["RichProgress"]

Advance = Callable[[int], None]


class RichProgress:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Advance]:
        if not self.enabled:
            yield lambda _n: None
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        ) as progress:
            task = progress.add_task(escape(redact(name)), total=total)
            yield lambda n: progress.advance(task, n)

    def info(self, message: str) -> None:
        if self.enabled:
            self.console.print(escape(redact(message)), highlight=False)
