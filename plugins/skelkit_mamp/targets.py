"""MAMP's motion target: the frame-to-frame motion of every segment."""

from __future__ import annotations

import torch
from torch import Tensor

from skelkit.errors import ConfigError
from skelkit.methods.targets import TokenTarget


def frame_motion(seq: Tensor, stride: int = 1) -> Tensor:
    """``x[t + stride] - x[t]`` along time of ``(B, C, T, V)``; the last ``stride`` frames are 0."""
    motion = torch.zeros_like(seq)
    motion[:, :, :-stride] = seq[:, :, stride:] - seq[:, :, :-stride]
    return motion


class MotionTarget(TokenTarget):
    """Per-token (normalised) motion of the unmasked input."""

    def __init__(self, stride: int = 1, normalize: bool = True, eps: float = 1e-6) -> None:
        super().__init__(normalize=normalize, eps=eps)
        self.stride = stride

    def values(self, seq: Tensor) -> Tensor:
        """Frame motion at ``stride``."""
        return frame_motion(seq, self.stride)


def build_motion_target(stride: int = 1, normalize: bool = True, eps: float = 1e-6) -> MotionTarget:
    """Factory of the ``motion`` target (MAMP).

    Args:
        stride: frames between the two positions differenced (1 in MAMP).
        normalize: standardise each token's values (mean 0, unbiased variance 1).
        eps: added to the variance inside the square root.
    """
    if stride < 1:
        raise ConfigError(f"target.stride must be >= 1, got {stride}")
    if eps < 0:
        raise ConfigError(f"target.eps must be >= 0, got {eps}")
    return MotionTarget(stride=stride, normalize=normalize, eps=eps)
