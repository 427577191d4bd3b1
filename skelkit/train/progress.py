"""Progress of a training run on stderr: steps, loss, lr, samples/s and ETA (rich)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    """A rich progress bar (silent when disabled, e.g. on ranks other than 0 or ``--quiet``).

    Use as a context manager; :meth:`advance` after every optimizer step and
    :meth:`update` when new metrics are logged.
    """

    def __init__(self, console: Console, total: int, done: int = 0, enabled: bool = True) -> None:
        self.console = console
        self._progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled or console.quiet,
            transient=False,
        )
        self._task = self._progress.add_task(
            "train", total=total, completed=done, epoch="-", info=""
        )

    def __enter__(self) -> TrainProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def advance(self, steps: int = 1) -> None:
        """Count finished optimizer steps."""
        self._progress.advance(self._task, steps)

    def update(self, *, loss: float, lr: float, samples_per_s: float, epoch: int) -> None:
        """Show the latest logged metrics."""
        info = f"loss {loss:.4f}  lr {lr:.2e}  {samples_per_s:,.0f} samples/s"
        self._progress.update(self._task, epoch=epoch, info=info)

    def log(self, *objects: Any) -> None:
        """Print a line above the bar."""
        self._progress.console.print(*objects)
