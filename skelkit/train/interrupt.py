"""Ctrl-C during training: the first asks for a resumable checkpoint, the second aborts."""

from __future__ import annotations

import contextlib
import signal
from types import FrameType
from typing import Any

from rich.console import Console


class StopFlag:
    """SIGINT handler for the training loop (a context manager; ``requested`` is the flag)."""

    def __init__(self, console: Console) -> None:
        self.requested = False
        self._console = console
        self._previous: Any = None

    def __enter__(self) -> StopFlag:
        with contextlib.suppress(ValueError):  # not the main thread: no handler
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        self._console.print(
            "[yellow]Ctrl-C: finishing this step and saving a resumable checkpoint "
            "(press Ctrl-C again to abort without saving)[/]"
        )
