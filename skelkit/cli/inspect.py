"""``skelkit inspect`` (what a store holds) and ``skelkit viz`` (draw one of its samples)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from skelkit.cli import state

#: Skipped samples listed before "... and N more" (``--json`` lists them all).
SHOWN_SKIPPED = 20


def _print_summary(summary: object, show_classes: bool) -> None:
    from skelkit.data.inspect import StoreSummary

    assert isinstance(summary, StoreSummary)
    console = state.err_console()
    rows, joints, channels = summary.frame_shape
    console.print(f"[bold]{summary.path}[/bold]")
    console.print(
        f"dataset {summary.dataset}, recipe {summary.recipe}, "
        f"skelkit {summary.skelkit_version or '?'}"
    )
    console.print(
        f"{summary.num_samples} samples, {summary.num_frames} frames of "
        f"{rows} persons x {joints} joints x {channels} channels"
    )
    if summary.recipe_constants:
        constants = ", ".join(f"{k}={v}" for k, v in summary.recipe_constants.items())
        console.print(f"recipe constants: {constants}")
    lengths = summary.lengths
    console.print(
        f"lengths: min {lengths.min}, median {lengths.median:g}, mean {lengths.mean:.1f}, "
        f"max {lengths.max} (5%-95%: {lengths.p5:g}-{lengths.p95:g})"
    )
    table = Table(title="splits")
    for column in ("split", "part", "samples"):
        table.add_column(column)
    for split, parts in summary.splits.items():
        for part, count in parts.items():
            table.add_row(split, part, str(count))
    console.print(table)
    counts = [c.count for c in summary.classes]
    console.print(
        f"classes: {len(summary.classes)} present of {summary.num_class_names} named"
        + (f", {min(counts)}-{max(counts)} samples each" if counts else "")
    )
    if show_classes:
        classes = Table(title="classes")
        for column in ("label", "name", "samples"):
            classes.add_column(column)
        for c in summary.classes:
            classes.add_row(str(c.label), c.name, str(c.count))
        console.print(classes)
    console.print(f"skipped samples: {len(summary.skipped)}")
    for source, reason in summary.skipped[:SHOWN_SKIPPED]:
        console.print(f"  {source}: {reason}")
    if len(summary.skipped) > SHOWN_SKIPPED:
        console.print(f"  ... and {len(summary.skipped) - SHOWN_SKIPPED} more (see --json)")


def inspect_command(
    path: Path = typer.Argument(..., help="A skelkit HDF5 store (from skelkit preprocess)."),
    json_out: bool = typer.Option(False, "--json", help="Print everything as JSON on stdout."),
    classes: bool = typer.Option(False, "--classes", help="List every class and its count."),
    names: bool = typer.Option(
        False, "--names", help="Print the sample names, one per line, on stdout."
    ),
) -> None:
    """Show a store's splits, classes, length statistics, recipe and skipped samples."""
    from skelkit.data.inspect import inspect_store
    from skelkit.data.store import open_store

    if names:
        with open_store(path) as store:
            typer.echo("\n".join(store.names))
        return
    summary = inspect_store(path)
    if json_out:
        state.print_json(summary.as_dict())
        return
    _print_summary(summary, classes)


def viz_command(
    path: Path = typer.Argument(..., help="A skelkit HDF5 store."),
    sample: str = typer.Option(..., "--sample", help="Sample name (see skelkit inspect --names)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .png (frame grid) or .gif."),
    frames: str | None = typer.Option(
        None,
        "--frames",
        help="Frames to draw, e.g. 0,20,40 or 0:100:10 (default: 8 evenly spaced for a PNG, "
        "all for a GIF).",
    ),
    fps: float = typer.Option(15.0, "--fps", help="GIF frames per second."),
) -> None:
    """Draw a sample's skeletons (both persons, Kinect bones) as a PNG grid or an animated GIF."""
    from skelkit.data.inspect import find_sample
    from skelkit.data.store import open_store
    from skelkit.data.viz import default_frames, parse_frames, render

    with open_store(path) as store:
        index = find_sample(store, sample)
        data = store.read(index)
        label = int(store.labels[index])
        names = store.class_names
    length = len(data)
    chosen = parse_frames(frames, length) if frames else default_frames(length, out.suffix.lower())
    class_name = names[label] if 0 <= label < len(names) else f"class {label}"
    render(data, out, chosen, title=f"{sample} ({class_name})", fps=fps)
    state.err_console().print(f"wrote {out} ({len(chosen)} of {length} frames)")


def register(app: typer.Typer) -> None:
    """Add ``inspect`` and ``viz`` to the application."""
    app.command("inspect")(inspect_command)
    app.command("viz")(viz_command)
