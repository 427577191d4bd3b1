"""Getting a trained encoder out of skelkit: exporters and safetensors loading.

``skelkit export CKPT --format torchscript|onnx|safetensors --out FILE`` writes the
checkpoint's encoder through the exporter of that name (``exporters`` component kind).
The exported model maps a skeleton batch ``(N, 3, T, 25, 2)`` (dynamic ``N``) to the pooled
feature ``(N, D)`` or the token grid ``(N, M, T', V', D)``.

Importing this package does not import torch; the submodules that need it are loaded by
the functions below and by the exporter factories.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def load_safetensors(path: str | os.PathLike[str]) -> nn.Module:
    """Rebuild the encoder stored by ``skelkit export --format safetensors`` (eval mode).

    The encoder's configuration comes from the file's metadata and is built through the
    registry, so the plugin that provides the encoder must be installed.
    """
    from skelkit.export.safetensors_format import load_encoder_file

    return load_encoder_file(path)


__all__ = ["load_safetensors"]
