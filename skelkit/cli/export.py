"""``skelkit export``: write a checkpoint's encoder as TorchScript, ONNX or safetensors."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_kind


def export_command(
    checkpoint: Path = typer.Argument(
        ..., help="A checkpoint from skelkit pretrain or import-weights."
    ),
    fmt: str = typer.Option(
        ...,
        "--format",
        "-f",
        help="Export format: torchscript, onnx, safetensors (or a plugin's).",
        autocompletion=complete_kind("exporters"),
    ),
    out: Path = typer.Option(..., "--out", "-o", help="File to write."),
    frames: int | None = typer.Option(
        None,
        "--frames",
        help="Input length T (default: the encoder's window, e.g. 120 for MAMP).",
    ),
    pooled: bool = typer.Option(
        True,
        "--pooled/--tokens",
        help="Return the pooled feature (N, D) or the token grid (N, M, T', V', D).",
    ),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="Attribute path of the encoder in the method (default: the method's downstream "
        "encoder; Skeleton2vec: target.teacher, 'encoder' = its student).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Export the encoder; it takes (N, 3, T, 25, 2) with a dynamic batch axis N."""
    from skelkit.export.run import TOLERANCE, export_checkpoint

    state.requested_plugins()
    console = state.err_console()
    result = export_checkpoint(checkpoint, fmt, out, frames=frames, pooled=pooled, encoder=encoder)
    if result.max_abs_diff > TOLERANCE:
        console.print(
            f"[yellow]warning:[/] the exported model differs from the eager one by "
            f"{result.max_abs_diff:.2e} (more than {TOLERANCE:g}); please report it"
        )
    if json_out:
        state.print_json(result.as_dict())
        return
    shape = ", ".join(str(s) for s in result.output_shape)
    console.print(
        f"wrote {result.path} ({result.format}, {result.size_bytes / 1e6:.1f} MB): "
        f"{result.encoder} encoder, input (N, 3, {result.frames}, 25, 2) -> {result.output} "
        f"({shape}); max |exported - eager| = {result.max_abs_diff:.1e}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``export`` command."""
    app.command("export")(export_command)
