"""The module that is exported: a checkpoint's encoder returning pooled features or tokens.

Encoder contract (DESIGN.md): ``encoder(x (N, C, T, V, M))`` returns the token grid
``(N, M, T', V', D)`` or, for encoders that pool themselves (PCM3's GRU), ``(N, D)``. The
pooled feature of a grid is ``encoder.pool(grid)`` when the encoder defines it, else the
mean over persons, time and joints — the feature the linear probe reads.

This module imports torch; it is loaded only by the export functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from skelkit.errors import ConfigError

#: Joints and persons of the exported input layout ``(N, 3, T, 25, 2)``.
NUM_CHANNELS = 3
NUM_JOINTS = 25
NUM_PERSONS = 2


class ExportedEncoder(nn.Module):
    """``x (N, 3, T, 25, 2) -> (N, D)`` (``pooled=True``) or the encoder's token grid."""

    def __init__(self, encoder: nn.Module, pooled: bool = True) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooled = pooled
        pool = getattr(encoder, "pool", None)
        self._pool = pool if callable(pool) else None

    def forward(self, x: Tensor) -> Tensor:
        """Encode ``x`` and pool the token grid when ``pooled`` (pooled encoders pass through)."""
        out: Tensor = self.encoder(x)
        if not self.pooled or out.dim() == 2:
            return out
        if self._pool is not None:
            pooled: Tensor = self._pool(out)
            return pooled
        return out.mean(dim=(1, 2, 3))


@dataclass(frozen=True)
class ExportSource:
    """An encoder ready to export and what is known about it."""

    encoder: nn.Module
    config: dict[str, Any]
    checkpoint: dict[str, Any]
    frames: int
    #: Where the encoder lives in the method (``encoder``, ``target.teacher``...).
    location: str = "encoder"

    @property
    def encoder_name(self) -> str:
        """Registry name of the encoder (``transformer``, ``gru``, ...)."""
        section = self.config.get("encoder")
        return str(section.get("name", "?")) if isinstance(section, dict) else "?"


def encoder_frames(encoder: nn.Module, config: dict[str, Any], frames: int | None) -> int:
    """The input length ``T`` to export: ``frames`` checked against the encoder.

    An encoder with a fixed window (``num_frames``, the transformer) only takes that many
    frames; other encoders (the GRU) take any ``T`` and default to the test transform's
    window.
    """
    fixed = getattr(encoder, "num_frames", None)
    if isinstance(fixed, int):
        if frames is not None and frames != fixed:
            raise ConfigError(
                f"--frames {frames}: the encoder was built for {fixed} frames (encoder."
                f"num_frames); export with --frames {fixed} and resample inputs to that length"
            )
        return fixed
    if frames is not None:
        if frames < 1:
            raise ConfigError(f"--frames must be >= 1, got {frames}")
        return frames
    window = _test_window(config)
    if window is None:
        raise ConfigError(
            "the encoder takes any number of frames and the config names no test window; "
            "give the input length with --frames T"
        )
    return window


def _test_window(config: dict[str, Any]) -> int | None:
    section = config.get("test_transform")
    if isinstance(section, dict):
        for key in ("window", "num_frames", "frames"):
            value = section.get(key)
            if isinstance(value, int) and value > 0:
                return value
    return None


def check_output(module: ExportedEncoder, source: ExportSource) -> tuple[int, ...]:
    """Run the module once on a small batch; return the per-sample output shape.

    Raises ConfigError when tokens are asked for but the encoder only returns pooled
    features.
    """
    with torch.no_grad():
        out = module(example_input(source.frames, batch=1))
    if not module.pooled and out.dim() == 2:
        raise ConfigError(
            f"the '{source.encoder_name}' encoder returns pooled features only; "
            "export it with --pooled"
        )
    return tuple(out.shape[1:])


def example_input(frames: int, batch: int = 2, seed: int = 0) -> Tensor:
    """A reproducible random batch ``(batch, 3, frames, 25, 2)`` of skeleton-scale values."""
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, NUM_CHANNELS, frames, NUM_JOINTS, NUM_PERSONS)
    return 0.5 * torch.randn(shape, generator=generator)
