"""Losses of the masked method: ``(prediction, target, mask) -> scalar``.

Both average a per-token error over the last axis, then over the masked tokens
(``mask`` True), which is how MAMP (and MAE) average; for a fixed target width it equals
Skeleton2vec's mean over masked tokens and channels.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError


def masked_mean(per_token: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``per_token (B, L)`` over the positions where ``mask (B, L)`` is True."""
    weights = mask.to(per_token.dtype)
    return (per_token * weights).sum() / weights.sum().clamp_min(1.0)


class MSELoss(nn.Module):
    """Squared error, mean per token, then mean over masked tokens."""

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Scalar loss of ``pred`` against ``target`` (both ``(B, L, D)``) on ``mask``."""
        return masked_mean((pred - target).pow(2).mean(dim=-1), mask)


class SmoothL1Loss(nn.Module):
    """Smooth-L1 (Huber / beta) error, mean per token, then mean over masked tokens."""

    def __init__(self, beta: float = 1.0) -> None:
        super().__init__()
        self.beta = beta

    def forward(self, pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
        """Scalar loss of ``pred`` against ``target`` (both ``(B, L, D)``) on ``mask``."""
        err = F.smooth_l1_loss(pred, target, reduction="none", beta=self.beta)
        return masked_mean(err.mean(dim=-1), mask)


def build_mse_loss() -> MSELoss:
    """Factory of the ``mse`` loss: per-token MSE averaged over masked tokens."""
    return MSELoss()


def build_smooth_l1_loss(beta: float = 1.0) -> SmoothL1Loss:
    """Factory of the ``smooth_l1`` loss.

    Args:
        beta: error size where the loss turns from quadratic to linear (> 0).
    """
    if beta <= 0:
        raise ConfigError(f"loss.beta must be > 0, got {beta}")
    return SmoothL1Loss(beta=beta)
