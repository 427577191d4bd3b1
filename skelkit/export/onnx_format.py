"""ONNX export, run with ONNX Runtime (optional extra: ``pip install 'skelkit[onnx]'``).

The graph has one input ``x`` ``(N, 3, T, 25, 2)`` and one output ``features``, both with a
dynamic batch axis ``N``; skelkit's metadata is stored in the model's ``metadata_props``.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from skelkit.errors import ConfigError, DataError
from skelkit.export.base import atomic_output, require_modules

INPUT_NAME = "x"
OUTPUT_NAME = "features"
EXTRA = "onnx"


class OnnxExporter:
    """Writes an ONNX graph with opset ``opset``."""

    suffix = ".onnx"

    def __init__(self, opset: int = 17) -> None:
        self.opset = opset

    def export(
        self, module: nn.Module, example: Tensor, path: Path, metadata: Mapping[str, str]
    ) -> None:
        """Export ``module`` traced on ``example``, attach ``metadata``, check the graph."""
        import onnx

        kwargs: dict[str, Any] = {
            "input_names": [INPUT_NAME],
            "output_names": [OUTPUT_NAME],
            "dynamic_axes": {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            "opset_version": self.opset,
        }
        if "dynamo" in inspect.signature(torch.onnx.export).parameters:
            # The TorchScript-based exporter: it needs no onnxscript and keeps ``N`` dynamic.
            kwargs["dynamo"] = False
        with atomic_output(path) as tmp:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module.eval(), (example,), str(tmp), **kwargs)
            model = onnx.load(str(tmp))
            for key, value in metadata.items():
                entry = model.metadata_props.add()
                entry.key, entry.value = key, value
            onnx.checker.check_model(model)
            onnx.save(model, str(tmp))

    def run(self, path: Path, x: np.ndarray) -> np.ndarray:
        """Run the graph with ONNX Runtime on the CPU."""
        session = open_session(path)
        out = session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, np.float32)})
        return np.asarray(out[0])


def open_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session on ``path`` (``threads`` intra-op threads if given)."""
    require_modules("onnx", EXTRA, "onnxruntime")
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception classes
        raise DataError(f"'{path}' is not an ONNX model ONNX Runtime can load: {exc}") from exc


def read_metadata(path: Path) -> dict[str, str]:
    """The skelkit metadata of an exported ONNX file."""
    require_modules("onnx", EXTRA, "onnx")
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {entry.key: entry.value for entry in model.metadata_props}


def build_onnx_exporter(opset: int = 17) -> OnnxExporter:
    """Factory of the ``onnx`` exporter; ``opset`` is the ONNX operator set version."""
    require_modules("onnx", EXTRA, "onnx", "onnxruntime")
    if opset < 14:
        raise ConfigError(f"onnx opset {opset} is too old; use 14 or newer (default 17)")
    return OnnxExporter(opset)
