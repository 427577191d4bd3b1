"""TorchScript export: the encoder traced with a dynamic batch axis.

The skeleton transformer branches on construction-time options, so it is traced (not
scripted); tracing records the batch size symbolically, and ``skelkit export`` checks the
file on a batch size it was not traced with. The file loads with ``torch.jit.load``
without skelkit installed; its metadata is the extra file ``skelkit.json``.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from skelkit.errors import DataError
from skelkit.export.base import atomic_output

METADATA_FILE = "skelkit.json"


class TorchScriptExporter:
    """Writes a traced ``torch.jit.ScriptModule``."""

    suffix = ".pt"

    def export(
        self, module: nn.Module, example: Tensor, path: Path, metadata: Mapping[str, str]
    ) -> None:
        """Trace ``module`` on ``example`` and save it (checked by the caller on other batches)."""
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(module.eval(), (example,), check_trace=False)
        extra = {METADATA_FILE: json.dumps(dict(metadata), sort_keys=True)}
        with atomic_output(path) as tmp:
            torch.jit.save(traced, str(tmp), _extra_files=extra)

    def run(self, path: Path, x: np.ndarray) -> np.ndarray:
        """Run the saved module on ``x`` on the CPU."""
        model = load_torchscript(path)
        with torch.no_grad():
            out = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
        return out.numpy()


def load_torchscript(path: Path) -> Any:
    """Load an exported TorchScript file (CPU), with a DataError if it is not one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise DataError(f"'{path}' is not a TorchScript file written by skelkit export") from exc


def read_metadata(path: Path) -> dict[str, str]:
    """The metadata stored in an exported TorchScript file."""
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    data: dict[str, str] = json.loads(extra[METADATA_FILE] or "{}")
    return data


def build_torchscript_exporter() -> TorchScriptExporter:
    """Factory of the ``torchscript`` exporter."""
    return TorchScriptExporter()
