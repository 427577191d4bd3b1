"""Load the encoder of a skelkit checkpoint for export, with its provenance metadata."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import skelkit
from skelkit.errors import DataError
from skelkit.export.model import ExportSource, encoder_frames

#: Version of the metadata layout written into exported files.
METADATA_FORMAT = "1"


def load_source(
    path: str | os.PathLike[str], frames: int | None = None, which: str | None = None
) -> ExportSource:
    """The encoder of checkpoint ``path`` in eval mode, and the input length to export.

    The returned config has the test transform filled in (``mamp_test`` when the
    checkpoint names none), as evaluation and ``skelkit embed`` use it. ``which`` is the
    encoder's attribute path in the method (default: the method's downstream encoder, see
    :func:`skelkit.train.checkpoint.load_encoder`; Skeleton2vec's student is ``encoder``).

    Raises:
        DataError: the file is missing, damaged, not a skelkit checkpoint, or its weights do
            not fit the encoder its config describes (e.g. a checkpoint of another method).
        PluginError: the method or encoder it names is not installed.
    """
    from skelkit.train.checkpoint import load_checkpoint, load_encoder_at
    from skelkit.train.data import with_default_transforms

    ckpt = load_checkpoint(path)
    config = with_default_transforms(ckpt["config"])
    check_has_encoder(ckpt, path)
    encoder, path_in_method = load_encoder_at(ckpt, which)
    return ExportSource(
        encoder=encoder,
        location=path_in_method,
        config=config,
        checkpoint=ckpt,
        frames=encoder_frames(encoder, config, frames),
    )


def check_has_encoder(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Raise DataError unless the checkpoint's config describes an encoder to rebuild."""
    if isinstance(ckpt["config"].get("encoder"), dict):
        return
    hint = (
        "it is an evaluation checkpoint, which does not store the encoder's configuration; "
        "use the pretrained checkpoint that was evaluated"
        if ckpt["skelkit"].get("kind") == "evaluate"
        else "only checkpoints of methods with an encoder can be used"
    )
    raise DataError(f"checkpoint '{path}' has no 'encoder' section in its config: {hint}.")


def export_metadata(
    source: ExportSource, *, pooled: bool, output_shape: tuple[int, ...], fmt: str
) -> dict[str, str]:
    """String metadata stored in every exported file (JSON values where structured).

    It holds what a user needs to feed the model correctly: the input layout and length,
    the preprocessing recipe and test transform, plus the encoder configuration (which
    :func:`skelkit.export.load_safetensors` rebuilds) and the provenance.
    """
    ckpt, config = source.checkpoint, source.config
    header = ckpt.get("skelkit", {})
    recipe = ckpt.get("recipe") or config.get("recipe")
    return {
        "skelkit.metadata_format": METADATA_FORMAT,
        "skelkit.version": skelkit.__version__,
        "skelkit.export_format": fmt,
        "checkpoint.kind": str(header.get("kind", "")),
        "checkpoint.version": str(header.get("version", "")),
        "method": _json(config.get("method", {}).get("name")),
        "weights": _json(source.location),
        "encoder": _json(config["encoder"]),
        "plugins": _json(config.get("plugins", {})),
        "dataset": _json(ckpt.get("dataset")),
        "recipe": _json(recipe),
        "test_transform": _json(config.get("test_transform")),
        "input": _json({"layout": "N,C,T,V,M", "shape": ["N", 3, source.frames, 25, 2]}),
        "output": _json({"kind": "pooled" if pooled else "tokens", "shape": ["N", *output_shape]}),
        "frames": str(source.frames),
        "epoch": str(ckpt.get("epoch", "")),
        "step": str(ckpt.get("step", "")),
    }


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def check_out_path(out: Path) -> None:
    """Make sure ``out`` can be written (its folder exists or can be created; not a folder)."""
    if out.is_dir():
        raise DataError(f"--out '{out}' is a folder; give a file name such as model.onnx")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"can not create the folder of --out '{out}': {exc.strerror}") from exc
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise DataError(f"the folder of --out '{out}' is not writable; choose another --out")
