"""Maskers: which tokens of every person-sequence the encoder does not see.

A masker is called with the patchified raw input of every person-sequence, a grid
``(B, T', V, P)`` (``P = segment_length * C`` values per token, frame-major then
coordinate), and returns a :class:`MaskResult`. Maskers that draw noise accept it from the
caller (``noise=``) so that tests can replay a reference's random stream; otherwise they
draw ONE ``torch.rand`` on the input's device from the global generator (the training
engine seeds it per step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from skelkit.errors import ConfigError


@dataclass(frozen=True)
class MaskResult:
    """The outcome of masking ``B`` sequences of ``L`` tokens, keeping ``K`` of each.

    Attributes:
        mask: ``(B, L)`` bool, True = hidden from the encoder (grid order).
        ids_keep: ``(B, K)`` int64, the kept tokens in the order the encoder sees them.
        ids_restore: ``(B, L)`` int64; gathering ``[kept tokens, L - K mask tokens]`` with
            it gives the tokens back in grid order.
    """

    mask: Tensor
    ids_keep: Tensor
    ids_restore: Tensor


def keep_count(num_tokens: int, ratio: float) -> int:
    """Tokens kept at masking ratio ``ratio``: ``int(L * (1 - ratio))`` (74 of 750 at 0.9).

    The float rounding is the references' and is kept on purpose.
    """
    return int(num_tokens * (1 - ratio))


def check_ratio(section: str, ratio: float) -> None:
    """Raise :class:`ConfigError` unless ``0 <= ratio < 1``."""
    if not 0.0 <= ratio < 1.0:
        raise ConfigError(f"{section}.ratio must be in [0, 1), got {ratio}")


def mask_from_scores(scores: Tensor, num_keep: int) -> MaskResult:
    """Keep the ``num_keep`` lowest-scoring tokens of every row of ``scores (B, L)``."""
    ids_shuffle = torch.argsort(scores, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :num_keep]
    mask = ids_restore >= num_keep
    return MaskResult(mask=mask, ids_keep=ids_keep, ids_restore=ids_restore)


def uniform_noise(patches: Tensor, noise: Tensor | None) -> Tensor:
    """The ``(B, L)`` uniform noise of one masking call: ``noise`` or one fresh draw."""
    b, t, v, _ = patches.shape
    if noise is None:
        return torch.rand(b, t * v, device=patches.device)
    if noise.shape != (b, t * v):
        raise ValueError(f"noise must have shape {(b, t * v)}, got {tuple(noise.shape)}")
    return noise.to(patches.device)


class RandomMasker:
    """MAE masking: every token is hidden with the same probability."""

    def __init__(self, ratio: float = 0.9) -> None:
        check_ratio("masker", ratio)
        self.ratio = ratio

    def __call__(self, patches: Tensor, noise: Tensor | None = None) -> MaskResult:
        """Mask ``patches (B, T', V, P)``; ``noise (B, L)`` uniform replaces the draw."""
        u = uniform_noise(patches, noise)
        return mask_from_scores(u, keep_count(u.shape[1], self.ratio))

    def __repr__(self) -> str:
        return f"RandomMasker(ratio={self.ratio})"


def build_random_masker(ratio: float = 0.9) -> RandomMasker:
    """Factory of the ``random`` masker (MAE): hide ``ratio`` of the tokens uniformly.

    Args:
        ratio: fraction of tokens hidden; ``int(L * (1 - ratio))`` are kept.
    """
    return RandomMasker(ratio=ratio)
