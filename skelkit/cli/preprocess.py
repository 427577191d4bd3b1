"""``skelkit preprocess``: raw NTU RGB+D / PKU-MMD files -> one skelkit HDF5 store.

Thin: parse the options, run :func:`skelkit.data.preprocess.preprocess` with a progress
bar on stderr, print a summary (``--json``: on stdout). Ctrl-C and SIGTERM leave nothing
at the output path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_choices, complete_kind

#: Exit code of a run stopped by Ctrl-C or SIGTERM.
EXIT_INTERRUPTED = 130


def _complete_on_error(incomplete: str) -> list[str]:
    return [v for v in ("fail", "skip") if v.startswith(incomplete)]


def preprocess_command(
    dataset: str = typer.Argument(
        ...,
        help="Dataset name: ntu60, ntu120, pkummd1, pkummd2 (or a plugin's).",
        autocompletion=complete_kind("datasets"),
    ),
    raw: list[Path] = typer.Option(
        ..., "--raw", "-r", help="Raw folder (searched recursively); repeat for several."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output .h5; by default $SKELKIT_DATA_DIR/DATASET_RECIPE.h5 "
        "(~/.cache/skelkit/data when the variable is unset).",
    ),
    recipe: str | None = typer.Option(
        None,
        "--recipe",
        help="Preprocessing recipe (ctrgcn, pyskl, agcn ...); by default the dataset's own.",
        autocompletion=complete_kind("recipes"),
    ),
    workers: int = typer.Option(
        0, "--workers", "-j", help="Worker processes; 0 = one per CPU (at most 8)."
    ),
    on_error: str = typer.Option(
        "fail",
        "--on-error",
        help="fail: stop at the first bad raw file; skip: record it in the file and go on.",
        autocompletion=_complete_on_error,
    ),
    compression: str = typer.Option(
        "none",
        "--compression",
        help="Compression of the frames: none, lzf, gzip[:LEVEL].",
        autocompletion=complete_choices("none", "lzf", "gzip"),
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON on stdout."),
) -> None:
    """Preprocess a dataset's raw files into one HDF5 store (all splits)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from skelkit.data.preprocess import preprocess, terminate_as_interrupt

    console = state.err_console()
    columns = (
        TextColumn("[bold]preprocess[/] {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TextColumn("{task.fields[samples]} samples"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(dataset, total=None, samples=0)

        def progress(done: int, total: int, samples: int) -> None:
            bar.update(task, completed=done, total=total, samples=samples)

        try:
            with terminate_as_interrupt():
                report = preprocess(
                    dataset,
                    raw,
                    out=out,
                    recipe=recipe,
                    workers=workers,
                    on_error=on_error,
                    compression=compression,
                    progress=progress,
                )
        except KeyboardInterrupt:
            bar.stop()
            print("skelkit: preprocess interrupted; nothing was written.", file=sys.stderr)
            raise typer.Exit(EXIT_INTERRUPTED) from None
    if json_out:
        state.print_json(report.as_dict())
        return
    _print_summary(console, report)


def _print_summary(console: Any, report: Any) -> None:
    splits = ", ".join(
        f"{split} " + "/".join(f"{part} {n}" for part, n in parts.items())
        for split, parts in report.splits.items()
    )
    console.print(
        f"wrote [bold]{report.out}[/]: {report.samples} samples ({report.frames} frames) of "
        f"{report.dataset} with recipe {report.recipe} from {report.sources} files in "
        f"{report.seconds:.1f}s ({report.samples_per_second:.0f} samples/s, "
        f"{report.workers} workers)"
    )
    if splits:
        console.print(f"splits: {splits}")
    if report.skipped:
        console.print(f"[yellow]skipped {len(report.skipped)}[/] (recorded in the file):")
        for item in report.skipped[:10]:
            console.print(f"  {item.source}: {item.reason}", markup=False)
        if len(report.skipped) > 10:
            console.print(f"  ... and {len(report.skipped) - 10} more")


def register(app: typer.Typer) -> None:
    """Add the ``preprocess`` command."""
    app.command("preprocess")(preprocess_command)
