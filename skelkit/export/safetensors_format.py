"""safetensors export: the encoder's weights with its configuration in the metadata.

Optional extra: ``pip install 'skelkit[safetensors]'``. The file holds no code; skelkit
rebuilds the encoder from the ``encoder`` metadata entry through the registry
(:func:`skelkit.export.load_safetensors`), so the plugin providing it must be installed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from skelkit.errors import DataError
from skelkit.export.base import atomic_output, require_modules
from skelkit.export.model import ExportedEncoder
from skelkit.export.source import METADATA_FORMAT

EXTRA = "safetensors"


class SafetensorsExporter:
    """Writes the encoder's state dict and the export metadata."""

    suffix = ".safetensors"

    def export(
        self, module: nn.Module, example: Tensor, path: Path, metadata: Mapping[str, str]
    ) -> None:
        """Save the weights of ``module.encoder`` (``example`` is not needed)."""
        from safetensors.torch import save_file

        encoder = module.encoder if isinstance(module, ExportedEncoder) else module
        tensors = {
            k: v.detach().cpu().contiguous().clone() for k, v in encoder.state_dict().items()
        }
        with atomic_output(path) as tmp:
            save_file(tensors, str(tmp), metadata=dict(metadata))

    def run(self, path: Path, x: np.ndarray) -> np.ndarray:
        """Rebuild the encoder from the file and run it eagerly on ``x``."""
        meta = read_metadata(path)
        pooled = json.loads(meta.get("output", "{}")).get("kind", "pooled") == "pooled"
        module = ExportedEncoder(load_encoder_file(path), pooled=pooled).eval()
        with torch.no_grad():
            out: Tensor = module(torch.from_numpy(np.ascontiguousarray(x, np.float32)))
        return out.numpy()


def read_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The metadata of a safetensors file (DataError when it is missing or not one)."""
    require_modules("safetensors", EXTRA, "safetensors")
    from safetensors import safe_open

    source = Path(path)
    if not source.is_file():
        raise DataError(f"'{source}' does not exist; check the path.")
    try:
        with safe_open(str(source), framework="pt") as handle:
            meta: dict[str, str] = dict(handle.metadata() or {})
    except Exception as exc:  # safetensors raises SafetensorError or OSError
        raise DataError(f"'{source}' is not a readable safetensors file: {exc}") from exc
    return meta


def load_encoder_file(path: str | os.PathLike[str]) -> nn.Module:
    """Rebuild and load the encoder of a skelkit safetensors file (eval mode)."""
    from safetensors.torch import load_file

    from skelkit.registry import get_registries

    meta = read_metadata(path)
    if meta.get("skelkit.metadata_format") != METADATA_FORMAT or "encoder" not in meta:
        raise DataError(
            f"'{path}' has no skelkit metadata; it was not written by "
            "'skelkit export --format safetensors'."
        )
    section: Any = json.loads(meta["encoder"])
    encoder: nn.Module = get_registries().build("encoder", section)
    state = load_file(str(path))
    expected = set(encoder.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise DataError(
            f"'{path}': the stored weights do not fit the '{section.get('name')}' encoder its "
            f"metadata describes ({detail}); the file is damaged or from another version."
        )
    encoder.load_state_dict(state)
    return encoder.eval()


def build_safetensors_exporter() -> SafetensorsExporter:
    """Factory of the ``safetensors`` exporter."""
    require_modules("safetensors", EXTRA, "safetensors")
    return SafetensorsExporter()
