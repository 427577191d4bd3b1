"""``skelkit pretrain``: self-supervised pretraining of an encoder on a skelkit store.

Everything a user can get wrong (data file, split, output folder, config) is checked
before the model is built; the engine lives in :mod:`skelkit.train.loop`. Under
``torchrun`` every process runs this command and rank 0 prints and writes.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_splits
from skelkit.cli.config_cmd import (
    CONFIG_OPTION,
    PLUGIN_OPTION,
    PRESET_OPTION,
    SET_OPTION,
    resolve_from_options,
)
from skelkit.cli.options import device_option, precision_option
from skelkit.errors import DataError

#: Exit code of a run stopped by Ctrl-C (after its resumable checkpoint was written).
EXIT_INTERRUPTED = 130


def shorthand_overrides(**values: Any) -> list[str]:
    """``--set train.KEY=VALUE`` strings for the shorthand options that were given."""
    return [f"train.{key}={value}" for key, value in values.items() if value is not None]


def check_store(data: Path, split: str, part: str = "train") -> tuple[str, str]:
    """Open ``data`` as a skelkit store, check ``split/part``; return (dataset, recipe)."""
    from skelkit.data.store import open_store

    with open_store(data) as store:
        store.split_indices(split, part)
        return store.dataset, store.recipe


def check_out_dir(out: Path) -> None:
    """Create ``out`` if needed and make sure it is a writable folder."""
    if out.exists() and not out.is_dir():
        raise DataError(f"--out '{out}' is a file; give a folder for the run")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"can not create the output folder '{out}': {exc.strerror}") from exc
    if not os.access(out, os.W_OK | os.X_OK):
        raise DataError(f"the output folder '{out}' is not writable; choose another --out")


def pretrain_command(
    data: Path = typer.Option(..., "--data", "-d", help="The skelkit HDF5 store to train on."),
    split: str = typer.Option(
        ...,
        "--split",
        help="Split whose 'train' part is used (xsub...).",
        autocompletion=complete_splits,
    ),
    out: Path = typer.Option(..., "--out", "-o", help="Run folder (config, metrics, checkpoints)."),
    plugin: list[str] = PLUGIN_OPTION,
    config: list[Path] = CONFIG_OPTION,
    overrides: list[str] = SET_OPTION,
    preset: str | None = PRESET_OPTION,
    epochs: int | None = typer.Option(None, "--epochs", help="Same as --set train.epochs=N."),
    batch_size: int | None = typer.Option(
        None, "--batch-size", help="Global batch per step; same as --set train.batch_size=B."
    ),
    device: str | None = device_option(None, "auto, cpu or cuda; same as --set train.device=D."),
    precision: str | None = precision_option(
        None, "fp32, bf16 or fp16; same as --set train.precision=P."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Same as --set train.seed=S."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in --out from checkpoints/last.pt."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Pretrain an encoder (defaults < preset < dataset preset < -c < --set < shorthands)."""
    from skelkit.train.distenv import detect

    is_main = detect().is_main
    console = state.err_console()
    if not is_main:
        console.quiet = True
    dataset, recipe = check_store(data, split)
    check_out_dir(out)
    sets = [
        *overrides,
        f"data.path={json.dumps(str(data.resolve()))}",  # quoted: any file name is a string
        f"data.split={json.dumps(split)}",
        *shorthand_overrides(
            epochs=epochs, batch_size=batch_size, device=device, precision=precision, seed=seed
        ),
    ]
    resolved = resolve_from_options(plugin, config, sets, dataset=dataset, preset=preset)
    expected = resolved.get("recipe")
    if expected and expected != recipe:
        console.print(
            f"[yellow]warning:[/] {data} was preprocessed with recipe '{recipe}', but the "
            f"config expects '{expected}'; results will not match the paper's "
            f"(run skelkit preprocess {dataset} --recipe {expected})"
        )
    from skelkit.train.loop import TrainingInterrupted, pretrain

    try:
        result = pretrain(resolved, out, resume=resume, console=console)
    except TrainingInterrupted as stop:
        if is_main:
            print(
                f"skelkit: interrupted at step {stop.step}; resumable checkpoint "
                f"{stop.checkpoint}. Continue with the same command and --resume.",
                file=sys.stderr,
            )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if not is_main:
        return
    summary = {
        "out": str(result.out),
        "epochs": result.epochs,
        "steps": result.steps,
        "checkpoint": str(result.checkpoint),
        "loss": result.loss if math.isfinite(result.loss) else None,
        "samples_per_s": round(result.samples_per_s, 2),
        "data_wait_share": round(result.data_wait_share, 4),
    }
    if json_out:
        state.print_json(summary)
    else:
        console.print(
            f"done: {result.steps} steps, loss {result.loss:.4f}, "
            f"{result.samples_per_s:,.1f} samples/s -> {result.checkpoint}"
        )


def register(app: typer.Typer) -> None:
    """Add the ``pretrain`` command."""
    app.command("pretrain")(pretrain_command)
