"""``skelkit import-weights NAME FILE --out CKPT``: convert a paper's official weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from skelkit.cli import state
from skelkit.cli.completion import complete_kind
from skelkit.errors import DataError, PluginError
from skelkit.specs import ImporterSpec


def import_weights(name: str, source: Path, out: Path) -> dict[str, Any]:
    """Convert ``source`` with the importer ``name`` and save it as a skelkit checkpoint.

    Returns a summary (importer, files, dataset, epoch, number of tensors, kind of weights).
    """
    from skelkit.plugins import get_plugin_manager
    from skelkit.registry import get_registries
    from skelkit.train.checkpoint import save_checkpoint, validate_checkpoint

    entry = get_registries().get("importers", name)
    spec = entry.spec
    assert isinstance(spec, ImporterSpec)
    ckpt = spec.load()(source)
    if not isinstance(ckpt, dict):
        raise PluginError(
            f"importer '{entry.name}' from {entry.provenance} returned "
            f"{type(ckpt).__name__}, not a checkpoint dict; report it to the plugin's authors."
        )
    validate_checkpoint(ckpt, f"importer '{entry.name}' output")
    manager = get_plugin_manager()
    ckpt["config"].setdefault(
        "plugins", {n: manager.records[n].version for n in manager.loaded() if "." not in n}
    )
    if out.exists() and out.is_dir():
        raise DataError(f"--out '{out}' is a directory; give a file name such as model.pt.")
    save_checkpoint(out, ckpt)
    model = ckpt["model"]
    return {
        "importer": entry.qualified,
        "source": str(source),
        "out": str(out),
        "dataset": ckpt.get("dataset"),
        "epoch": ckpt.get("epoch"),
        "tensors": len(model),
        "weights": "method" if any(not k.startswith("encoder.") for k in model) else "encoder",
    }


def command(
    name: str = typer.Argument(
        ...,
        help="Importer name, e.g. mamp (see 'skelkit components importers').",
        autocompletion=complete_kind("importers"),
    ),
    source: Path = typer.Argument(..., help="The official checkpoint file."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the skelkit checkpoint."),
    json_out: bool = typer.Option(False, "--json", help="Print a JSON summary on stdout."),
) -> None:
    """Convert a paper's official checkpoint into a skelkit checkpoint (no pickled code runs)."""
    summary = import_weights(name, source, out)
    if json_out:
        state.print_json(summary)
        return
    state.err_console().print(
        f"imported {summary['tensors']} {summary['weights']} tensors from {source} "
        f"(epoch {summary['epoch']}, dataset {summary['dataset'] or 'unknown'}) -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``import-weights`` command."""
    app.command("import-weights")(command)
