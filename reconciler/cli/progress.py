"""Progress for people at a terminal: a spinner while a verb waits on registries, a bar
when it works through a known number of items. Silent when stderr is not a terminal
(CI logs, pipes, the daemon), so scripts see only the command's own output."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def activity(message: str, stream: TextIO | None = None) -> Iterator[None]:
    """A spinner with ``message`` for the duration of the block."""
    target = stream or sys.stderr
    if not target.isatty():
        yield
        return
    from rich.console import Console

    with Console(file=target).status(message, spinner="dots"):
        yield


class Bar:
    """A progress bar over ``total`` steps; ``advance()`` once per step."""

    def __init__(self, description: str, total: int, stream: TextIO | None = None) -> None:
        self._target = stream or sys.stderr
        self._progress = None
        self._task = None
        if self._target.isatty() and total > 1:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(file=self._target),
                transient=True,
            )
            self._task = self._progress.add_task(description, total=total)

    def __enter__(self) -> Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def advance(self, steps: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, steps)
