"""``skelkit embed``: pooled encoder features of a split part, to HDF5 or ``.npy``."""

from __future__ import annotations

from pathlib import Path

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_parts, complete_splits
from skelkit.cli.options import device_option, precision_option


def embed_command(
    checkpoint: Path = typer.Argument(..., help="A skelkit checkpoint of any method."),
    data: Path = typer.Option(..., "--data", "-d", help="The skelkit HDF5 store to embed."),
    split: str = typer.Option(
        "xsub", "--split", help="Split: xsub, xview, xset ...", autocompletion=complete_splits
    ),
    part: str = typer.Option(
        "test", "--part", help="Part of the split: train or test.", autocompletion=complete_parts
    ),
    out: Path = typer.Option(
        ..., "--out", "-o", help="FEATS.h5 (features, labels, names) or FEATS.npy (features)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", help="Samples per forward pass."),
    device: str = device_option("auto", "auto (CUDA when available), cpu or cuda."),
    precision: str = precision_option(
        "fp32", "fp32, or bf16/fp16 autocast (features are stored as float32)."
    ),
    num_workers: int = typer.Option(0, "--num-workers", help="DataLoader worker processes."),
    encoder: str | None = typer.Option(
        None,
        "--encoder",
        help="Attribute path of the encoder in the method (default: the method's downstream "
        "encoder; Skeleton2vec: target.teacher, 'encoder' = its student).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Write the encoder's pooled features (N, D) of SPLIT/PART under the test transform."""
    from skelkit.export.features import embed_checkpoint

    state.requested_plugins()
    console = state.err_console()
    result = embed_checkpoint(
        checkpoint,
        data,
        split,
        part,
        out,
        batch_size=batch_size,
        device=device,
        precision=precision,
        num_workers=num_workers,
        encoder=encoder,
    )
    for note in result.warnings:
        console.print(f"[yellow]warning:[/] {note}")
    if json_out:
        state.print_json(result.as_dict())
        return
    console.print(
        f"wrote {result.out}: {result.samples} x {result.dim} features of {split}/{part} "
        f"({result.device}, {result.seconds:.1f} s)"
    )


def register(app: typer.Typer) -> None:
    """Add the ``embed`` command."""
    app.command("embed")(embed_command)
