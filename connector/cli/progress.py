"""Rich progress for long stages; silent when output is not a terminal or logs are JSON.

A stage with a known total shows a bar and "done/total"; one without (a source streams its
records, so nobody knows the count in advance) shows a spinner and the running count with its
unit ("1,204 records"), never a bar stuck at "0/?". Stage names say what is being done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from connector.redaction import redact

__all__ = ["RichProgress", "describe_stage"]

Advance = Callable[[int], None]

# what each stage of a run does, in a marketer's words; "pull X" and "apply X" name the instance
_WHAT = {
    "pull": ("reading {name}", "records"),
    "unify": ("matching people across sources", ""),
    "model": ("scoring and segmenting profiles", ""),
    "plan": ("comparing with what each destination has", ""),
    "apply": ("sending changes to {name}", "changes"),
}


def describe_stage(name: str) -> tuple[str, str]:
    """(description, unit) of a stage named like ``pull shop`` or ``unify``."""
    stage, _, instance = name.partition(" ")
    text, unit = _WHAT.get(stage, (name, ""))
    return text.format(name=instance or stage), unit


class _CountColumn(ProgressColumn):
    """'1,204 records' for a stage without a total; nothing until something was counted."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        if not self.unit or not task.completed:
            return Text("")
        return Text(f"{int(task.completed):,} {self.unit}", style="progress.download")


class RichProgress:
    def __init__(self, console: Console, *, enabled: bool = True, transient: bool = True) -> None:
        self.console = console
        self.enabled = enabled
        self.transient = transient

    def columns(self, unit: str, total: int | None) -> list[ProgressColumn | str]:
        head: list[ProgressColumn | str] = [SpinnerColumn(), TextColumn("{task.description:<44}")]
        if total is None:
            return [*head, _CountColumn(unit), TimeElapsedColumn()]
        return [*head, BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]

    @contextmanager
    def stage(self, name: str, total: int | None = None) -> Iterator[Advance]:
        if not self.enabled:
            yield lambda _n: None
            return
        text, unit = describe_stage(name)
        with Progress(
            *self.columns(unit, total), console=self.console, transient=self.transient
        ) as progress:
            task = progress.add_task(escape(redact(text)), total=total)
            yield lambda n: progress.advance(task, n)

    def info(self, message: str) -> None:
        if self.enabled:
            self.console.print(escape(redact(message)), highlight=False)
