"""PCM3's data transforms: three augmented views per sample, and the evaluation crops.

``pcm3_views`` (pretraining) makes three independent views of every sample, as the official
feeder does, and stacks them on the channel axis (``(3 * C, window, V, M)``; the ``pcm3``
method splits them). Each view is

1. a **temporal crop-resize**: a random share ``U(min_ratio, max_ratio)`` of the valid frames
   (at least ``min_frames``, at most all of them) at a random offset, resized to ``window``
   frames by linear interpolation with half-pixel centres (the official bilinear
   ``align_corners=False`` resize; :class:`skelkit.data.transforms.CropResize`);
2. then, with probability ``corruption`` (0.5, 0.5 and 0 for the three views), a **joint
   corruption** (``joints`` of the 25 joints, for every frame and person, are either zeroed
   or, with probability 1/2, multiplied as row vectors by a random 3x3 matrix with entries
   ``U(-1, 1)``), otherwise a **shear** ``x' = S x`` with ``S = [[1, a, b], [c, 1, d],
   [e, f, 1]]`` and off-diagonal entries ``U(-shear, shear)``.

The same transform runs per sample (NumPy, loader workers) or batched on the training
device (``data.batched_transform``; torch), with the same distribution.

``pcm3_linear`` and ``pcm3_test`` are the downstream crops of the official lineage: a random
50-100 % crop, and a centre crop of 95 % of the valid frames, both resized to 64 frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from skelkit.data.transforms import CropResize
from skelkit.errors import ConfigError


@dataclass(frozen=True)
class ThreeViews:
    """Three independent crop-resize + corruption-or-shear views (see the module docstring)."""

    crop: CropResize
    corruption: tuple[float, ...] = (0.5, 0.5, 0.0)
    joints: int = 15
    shear: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "corruption", tuple(float(p) for p in self.corruption))
        if len(self.corruption) != 3 or not all(0 <= p <= 1 for p in self.corruption):
            raise ConfigError(
                f"train_transform.corruption must be three probabilities, got {self.corruption}"
            )
        if self.joints < 0 or self.shear < 0:
            raise ConfigError("train_transform.joints and train_transform.shear must be >= 0")

    @property
    def is_random(self) -> bool:
        """Always True: every view is random."""
        return True

    # -- per sample (NumPy) ----------------------------------------------------------------

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Three views of one sample's valid frames ``x (C, T, V, M)``: ``(3C, window, V, M)``."""
        if rng is None:
            raise ValueError("the pcm3 views are random: give an rng")
        views = [self._view(x, rng, p) for p in self.corruption]
        return np.ascontiguousarray(np.concatenate(views, axis=0), dtype=np.float32)

    def _view(self, x: np.ndarray, rng: np.random.Generator, corruption: float) -> np.ndarray:
        view = self.crop(x, rng)
        if rng.random() < corruption:
            return self._corrupt(view, rng)
        return self._shear(view, rng)

    def _shear(self, view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        s = np.eye(3)
        off = ~np.eye(3, dtype=bool)
        s[off] = rng.uniform(-self.shear, self.shear, size=6)
        return np.einsum("ij,jtvm->itvm", s, view.astype(np.float64)).astype(np.float32)

    def _corrupt(self, view: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        joints = rng.choice(view.shape[2], self.joints, replace=False)
        out = view.copy()
        if rng.random() < 0.5:
            out[:, :, joints] = 0.0
            return out
        matrix = rng.uniform(-1.0, 1.0, size=(3, 3))
        part = view[:, :, joints].astype(np.float64)
        out[:, :, joints] = np.einsum("itvm,ij->jtvm", part, matrix).astype(np.float32)
        return out

    # -- batched (torch, on the training device) -------------------------------------------

    def batch(
        self, x: torch.Tensor, lengths: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Three views of a padded batch ``x (N, C, T, V, M)`` with valid ``lengths``."""
        views = []
        for corruption in self.corruption:
            view, new_lengths = self.crop.batch(x, lengths, generator=generator)
            views.append(self._augment_batch(view, corruption, generator))
        return torch.cat(views, dim=1).contiguous(), new_lengths

    def _augment_batch(
        self, view: torch.Tensor, corruption: float, generator: torch.Generator | None
    ) -> torch.Tensor:
        n, c, _, v, _ = view.shape
        device = view.device

        def uniform(*shape: int) -> torch.Tensor:
            return torch.rand(shape, generator=generator, device=device, dtype=torch.float64)

        corrupt = uniform(n) < corruption
        zero = uniform(n) < 0.5
        s = torch.eye(3, device=device, dtype=torch.float64).repeat(n, 1, 1)
        off = ~torch.eye(3, dtype=torch.bool, device=device)
        s[:, off] = (uniform(n, 6) * 2 - 1) * self.shear
        sheared = torch.einsum("nij,njtvm->nitvm", s, view.double())
        chosen = uniform(n, v).argsort(dim=1)[:, : self.joints]
        picked = torch.zeros(n, v, dtype=torch.bool, device=device)
        picked.scatter_(1, chosen, True)
        matrix = uniform(n, 3, 3) * 2 - 1
        mixed = torch.einsum("nitvm,nij->njtvm", view.double(), matrix)
        replaced = torch.where(zero[:, None, None, None, None], 0.0, mixed)
        corrupted = torch.where(picked[:, None, None, :, None], replaced, view.double())
        out = torch.where(corrupt[:, None, None, None, None], corrupted, sheared)
        assert out.shape[1] == c
        return out.to(view.dtype)


def pcm3_views(
    window: int = 64,
    min_ratio: float = 0.1,
    max_ratio: float = 1.0,
    min_frames: int = 64,
    corruption: tuple[float, float, float] = (0.5, 0.5, 0.0),
    joints: int = 15,
    shear: float = 1.0,
) -> ThreeViews:
    """PCM3's pretraining transform: three views stacked on the channel axis.

    Args:
        window: frames of every view (64).
        min_ratio, max_ratio: range of the random crop's share of the valid frames.
        min_frames: shortest crop (never longer than the sample).
        corruption: per view, the probability of joint corruption instead of a shear.
        joints: joints corrupted (15 of 25).
        shear: amplitude of the shear's off-diagonal entries (1).
    """
    crop = CropResize(
        window=window, p_interval=(min_ratio, max_ratio), min_frames=min_frames, rotation=0.0
    )
    if not 0 <= joints <= 25:
        raise ConfigError(f"train_transform.joints must be in [0, 25], got {joints}")
    return ThreeViews(crop=crop, corruption=tuple(corruption), joints=joints, shear=shear)


def pcm3_linear(
    window: int = 64, min_ratio: float = 0.5, max_ratio: float = 1.0, min_frames: int = 64
) -> CropResize:
    """The downstream training crop: ``U(min_ratio, max_ratio)`` of the frames, resized."""
    return CropResize(
        window=window, p_interval=(min_ratio, max_ratio), min_frames=min_frames, rotation=0.0
    )


def pcm3_test(window: int = 64, ratio: float = 0.95) -> CropResize:
    """The downstream test crop: the centre ``ratio`` of the valid frames, resized."""
    return CropResize(window=window, p_interval=(ratio,), rotation=0.0)


__all__ = ["ThreeViews", "pcm3_linear", "pcm3_test", "pcm3_views"]
