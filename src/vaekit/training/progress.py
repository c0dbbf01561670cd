"""A rich progress bar for one epoch (silent when output is not a terminal)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class EpochProgress:
    def __init__(self, label: str, total: int, *, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.done = 0
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
            console=console, transient=True, disable=not (enabled and console.is_terminal),
        )
        self._task = self._progress.add_task(label, total=total)

    def __enter__(self) -> "EpochProgress":
        self._progress.start()
        return self

    def advance(self) -> None:
        self.done += 1
        self._progress.advance(self._task)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()
