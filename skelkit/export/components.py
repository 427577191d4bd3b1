"""Registration of the core's exporters. Nothing here imports torch."""

from __future__ import annotations

from collections.abc import Iterable

from skelkit import hookimpl
from skelkit.specs import ExporterSpec


@hookimpl
def skelkit_exporters() -> Iterable[ExporterSpec]:
    """TorchScript, ONNX and safetensors."""
    yield ExporterSpec(
        name="torchscript",
        factory="skelkit.export.torchscript_format:build_torchscript_exporter",
        summary="traced TorchScript module (torch.jit.load), dynamic batch",
    )
    yield ExporterSpec(
        name="onnx",
        factory="skelkit.export.onnx_format:build_onnx_exporter",
        summary="ONNX graph for ONNX Runtime, dynamic batch (extra: skelkit[onnx])",
    )
    yield ExporterSpec(
        name="safetensors",
        factory="skelkit.export.safetensors_format:build_safetensors_exporter",
        summary="weights + encoder config and recipe metadata (extra: skelkit[safetensors])",
    )
