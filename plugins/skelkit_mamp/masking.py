"""MAMP's motion-aware masker: tokens that move more are more likely to be hidden."""

from __future__ import annotations

import torch
from torch import Tensor

from skelkit.errors import ConfigError
from skelkit.methods.maskers import (
    MaskResult,
    check_ratio,
    keep_count,
    mask_from_scores,
    uniform_noise,
)


def motion_logits(patches: Tensor, tau: float) -> Tensor:
    """Masking logits ``(B, L)`` from the raw patchified coordinates ``(B, T', V, P)``.

    Motion of a token is the mean absolute difference to the previous segment of the same
    joint (the first segment copies the second), divided by ``max * tau + 1e-10`` per
    sequence, so logits lie in ``[0, 1 / tau]``.
    """
    b = patches.shape[0]
    diff = (patches[:, 1:] - patches[:, :-1]).abs()
    motion = torch.cat([diff[:, :1], diff], dim=1).mean(dim=-1).reshape(b, -1)
    return motion / (motion.amax(dim=-1, keepdim=True) * tau + 1e-10)


class MotionAwareMasker:
    """Gumbel-top-k sampling without replacement from ``softmax(motion logits)``.

    The ``int(L * (1 - ratio))`` tokens with the lowest ``log p - log(-log U)`` score are
    kept, so tokens are hidden with probability following their motion.
    """

    def __init__(self, ratio: float = 0.9, tau: float = 0.8) -> None:
        check_ratio("masker", ratio)
        self.ratio = ratio
        self.tau = tau

    def __call__(self, patches: Tensor, noise: Tensor | None = None) -> MaskResult:
        """Mask ``patches (B, T', V, P)``; ``noise (B, L)`` uniform replaces the draw."""
        # log(softmax) rather than log_softmax: the reference's rounding, so that equal noise
        # gives the reference's exact token order.
        log_p = torch.log(torch.softmax(motion_logits(patches, self.tau), dim=-1))
        u = uniform_noise(patches, noise)
        scores = log_p - torch.log(-torch.log(u + 1e-10) + 1e-10)
        return mask_from_scores(scores, keep_count(scores.shape[1], self.ratio))

    def __repr__(self) -> str:
        return f"MotionAwareMasker(ratio={self.ratio}, tau={self.tau})"


def build_motion_aware_masker(ratio: float = 0.9, tau: float = 0.8) -> MotionAwareMasker:
    """Factory of the ``motion_aware`` masker (MAMP).

    Args:
        ratio: fraction of tokens hidden; ``int(L * (1 - ratio))`` are kept (74 of 750).
        tau: temperature of the motion softmax (0.80 NTU-60 / PKU, 0.75 NTU-120).
    """
    if tau <= 0:
        raise ConfigError(
            f"masker.tau must be > 0, got {tau}; use masker.name=random for random masking"
        )
    return MotionAwareMasker(ratio=ratio, tau=tau)
