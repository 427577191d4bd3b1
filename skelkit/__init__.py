"""skelkit: self-supervised 3D skeleton action representation learning.

The public API for plugin authors: :data:`hookimpl` and the spec dataclasses.
"""

from __future__ import annotations

import pluggy

from skelkit.specs import (
    ComponentSpec,
    DatasetSpec,
    EncoderSpec,
    ExporterSpec,
    ImporterSpec,
    LossSpec,
    MaskerSpec,
    MethodSpec,
    PresetSpec,
    ProtocolSpec,
    RecipeSpec,
    TargetSpec,
    TransformSpec,
)

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("skelkit")

__all__ = [
    "ComponentSpec",
    "DatasetSpec",
    "EncoderSpec",
    "ExporterSpec",
    "ImporterSpec",
    "LossSpec",
    "MaskerSpec",
    "MethodSpec",
    "PresetSpec",
    "ProtocolSpec",
    "RecipeSpec",
    "TargetSpec",
    "TransformSpec",
    "__version__",
    "hookimpl",
]
