"""``export_checkpoint``: load, wrap, export and verify a checkpoint's encoder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from skelkit.export.base import Exporter
from skelkit.export.model import ExportedEncoder, check_output, example_input
from skelkit.export.source import check_out_path, export_metadata, load_source

#: Largest accepted difference between the exported file and the eager model.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class ExportResult:
    """What ``skelkit export`` reports."""

    path: Path
    format: str
    encoder: str
    frames: int
    output: str
    output_shape: tuple[Any, ...]
    max_abs_diff: float
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``--json``."""
        return {
            "path": str(self.path),
            "format": self.format,
            "encoder": self.encoder,
            "frames": self.frames,
            "output": self.output,
            "output_shape": list(self.output_shape),
            "max_abs_diff": self.max_abs_diff,
            "size_bytes": self.size_bytes,
        }


def build_exporter(fmt: str, options: dict[str, Any] | None = None) -> Exporter:
    """The exporter named ``fmt`` from the registry (PluginError lists the known ones)."""
    from skelkit.registry import get_registries

    entry = get_registries().get("exporters", fmt)
    factory = entry.spec.load()  # type: ignore[union-attr]
    params = {**entry.spec.defaults, **(options or {})}  # type: ignore[union-attr]
    exporter: Exporter = factory(**params)
    return exporter


def export_checkpoint(
    checkpoint: str | os.PathLike[str],
    fmt: str,
    out: str | os.PathLike[str],
    *,
    frames: int | None = None,
    pooled: bool = True,
    encoder: str | None = None,
) -> ExportResult:
    """Export the encoder of ``checkpoint`` to ``out`` in format ``fmt`` and verify it.

    The written file is run on a random batch of 3 (a batch size it was not traced with)
    and compared with the eager model; ``max_abs_diff`` is the largest difference.
    ``encoder`` is the encoder's attribute path in the method (default: the downstream
    encoder; Skeleton2vec's student is ``encoder``).
    """
    target = Path(out)
    exporter = build_exporter(fmt)
    source = load_source(checkpoint, frames, which=encoder)
    check_out_path(target)
    module = ExportedEncoder(source.encoder, pooled=pooled).eval()
    shape = check_output(module, source)
    metadata = export_metadata(source, pooled=pooled, output_shape=shape, fmt=fmt)
    exporter.export(module, example_input(source.frames), target, metadata)
    probe = example_input(source.frames, batch=3, seed=1)
    with torch.no_grad():
        eager = module(probe).numpy()
    exported = exporter.run(target, probe.numpy())
    diff = float(np.abs(exported - eager).max())
    return ExportResult(
        path=target,
        format=fmt,
        encoder=source.encoder_name,
        frames=source.frames,
        output="pooled" if pooled else "tokens",
        output_shape=("N", *shape),
        max_abs_diff=diff,
        size_bytes=target.stat().st_size,
    )
