"""MAMP's sample transforms: valid-frame crop, linear resize to a window, random rotation.

These are the transforms of MAMP's (and CTR-GCN's) feeder, re-derived from their
documented behaviour:

* **crop** the valid frames ``[0, length)``: at train time a random ratio
  ``p ~ U(p0, p1)`` keeps ``min(max(floor(length * p), min_frames), length)`` frames at a
  random offset; at test time (one ratio ``p``) a centred crop drops
  ``int((1 - p) * length / 2)`` frames at each end;
* **resize** the crop to ``window`` frames by linear interpolation in time with half-pixel
  centres (``F.interpolate(..., mode="bilinear", align_corners=False)`` of the reference);
* **rotate** (train only) every frame and person by one ``R = Rz @ Ry @ Rx`` with angles
  drawn from ``U(-rotation, rotation)``.

One :class:`CropResize` object runs either per sample (NumPy, in the DataLoader workers,
``transform(x, rng)``) or batched on the training device (torch, CPU or CUDA,
``transform.batch(x, lengths, generator)``). Both paths turn the same five uniform draws
per sample (see :data:`NUM_DRAWS`) into the same crop and rotation, so they agree exactly
in distribution and, given the same draws, in value (up to float rounding).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from skelkit.errors import ConfigError

#: Uniform draws per sample: crop ratio, crop offset, rotation about x, y and z.
NUM_DRAWS = 5


def crop_bounds(
    length: int, p_interval: tuple[float, ...], min_frames: int, u_ratio: float, u_offset: float
) -> tuple[int, int]:
    """Return ``(begin, size)`` of the crop of ``length`` valid frames.

    With two ratios (train) ``u_ratio`` and ``u_offset`` in [0, 1) pick the ratio and the
    offset; with one ratio (test) the crop is centred and the draws are unused.
    """
    if len(p_interval) == 1:
        bias = int((1 - p_interval[0]) * length / 2)
        return bias, length - 2 * bias
    p = u_ratio * (p_interval[1] - p_interval[0]) + p_interval[0]
    size = min(max(math.floor(length * p), min_frames), length)
    begin = min(math.floor(u_offset * (length - size + 1)), length - size)
    return begin, size


def resize_indices(size: int, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source frames and weights of a half-pixel linear resize from ``size`` to ``window``.

    Returns ``(lo, hi, weight)``: output frame ``j`` is
    ``(1 - weight[j]) * x[lo[j]] + weight[j] * x[hi[j]]``. Like PyTorch's ``interpolate``
    kernel for float32 input: a float32 scale, and the source position
    ``scale * (j + 0.5) - 0.5`` rounded once to float32 (a fused multiply-add; the float64
    product of a float32 and a half-integer is exact).
    """
    scale = np.float64(np.float32(size) / np.float32(window))
    src = (scale * (np.arange(window, dtype=np.float64) + 0.5) - 0.5).astype(np.float32)
    src = np.maximum(src, np.float32(0.0))
    lo = np.floor(src).astype(np.int64)
    weight = (src - lo.astype(np.float32)).astype(np.float32)
    hi = np.where(lo < size - 1, lo + 1, lo)
    return lo, hi, weight


def rotation_matrix(angles: np.ndarray) -> np.ndarray:
    """``Rz @ Ry @ Rx`` (float32) for angles ``(ax, ay, az)`` about x, y and z."""
    a = np.asarray(angles, dtype=np.float32)
    c, s = np.cos(a), np.sin(a)
    one, zero = np.float32(1), np.float32(0)
    rx = np.array([[one, zero, zero], [zero, c[0], s[0]], [zero, -s[0], c[0]]], np.float32)
    ry = np.array([[c[1], zero, -s[1]], [zero, one, zero], [s[1], zero, c[1]]], np.float32)
    rz = np.array([[c[2], s[2], zero], [-s[2], c[2], zero], [zero, zero, one]], np.float32)
    return rz @ ry @ rx


def _rotation_matrices(angles: torch.Tensor) -> torch.Tensor:
    """Batched :func:`rotation_matrix`: ``(N, 3)`` angles -> ``(N, 3, 3)``."""
    c, s = angles.cos(), angles.sin()
    one, zero = torch.ones_like(c[:, 0]), torch.zeros_like(c[:, 0])

    def mat(rows: list[list[torch.Tensor]]) -> torch.Tensor:
        return torch.stack([torch.stack(row, dim=-1) for row in rows], dim=-2)

    rx = mat([[one, zero, zero], [zero, c[:, 0], s[:, 0]], [zero, -s[:, 0], c[:, 0]]])
    ry = mat([[c[:, 1], zero, -s[:, 1]], [zero, one, zero], [s[:, 1], zero, c[:, 1]]])
    rz = mat([[c[:, 2], s[:, 2], zero], [-s[:, 2], c[:, 2], zero], [zero, zero, one]])
    return rz @ ry @ rx


@dataclass(frozen=True)
class CropResize:
    """Valid-frame crop + linear resize to ``window`` frames + optional random rotation.

    Attributes:
        window: output frames.
        p_interval: ``(p0, p1)`` random crop ratio (train) or ``(p,)`` centre crop (test).
        min_frames: lower bound of a random crop's length (never above the valid length).
        rotation: maximal rotation angle in radians about each axis; 0 disables it.
    """

    window: int = 120
    p_interval: tuple[float, ...] = (0.5, 1.0)
    min_frames: int = 64
    rotation: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "p_interval", tuple(float(p) for p in self.p_interval))
        if self.window < 1:
            raise ConfigError(f"transform window must be >= 1, got {self.window}")
        if len(self.p_interval) not in (1, 2) or not all(0 < p <= 1 for p in self.p_interval):
            raise ConfigError(
                f"transform crop ratios must be one or two values in (0, 1], got "
                f"{list(self.p_interval)}"
            )
        if len(self.p_interval) == 2 and self.p_interval[0] > self.p_interval[1]:
            raise ConfigError(f"transform crop ratios must be increasing, got {self.p_interval}")
        if self.rotation < 0:
            raise ConfigError(f"transform rotation must be >= 0 radians, got {self.rotation}")

    @property
    def is_random(self) -> bool:
        """Whether the transform draws random numbers (random crop or rotation)."""
        return len(self.p_interval) == 2 or self.rotation > 0

    # -- per sample (NumPy) ----------------------------------------------------------------

    def __call__(
        self,
        x: np.ndarray,
        rng: np.random.Generator | None = None,
        draws: np.ndarray | None = None,
    ) -> np.ndarray:
        """Transform one sample's valid frames ``x`` (C, T, V, M) to (C, window, V, M).

        Randomness comes from ``draws`` (NUM_DRAWS uniforms in [0, 1)) if given, else from
        ``rng``; a random transform without either raises ValueError.
        """
        if draws is None:
            if self.is_random and rng is None:
                raise ValueError("a random transform needs an rng or draws")
            draws = rng.random(NUM_DRAWS) if rng is not None else np.zeros(NUM_DRAWS)
        length = x.shape[1]
        begin, size = crop_bounds(
            length, self.p_interval, self.min_frames, float(draws[0]), float(draws[1])
        )
        lo, hi, weight = resize_indices(size, self.window)
        crop = np.asarray(x[:, begin : begin + size], dtype=np.float32)
        w = weight[None, :, None, None]
        out = crop[:, lo] * (np.float32(1) - w) + crop[:, hi] * w
        if self.rotation > 0:
            angles = (np.asarray(draws[2:5], dtype=np.float64) * 2 - 1) * self.rotation
            rot = rotation_matrix(angles)
            out = np.einsum("ij,jtvm->itvm", rot, out, dtype=np.float32)
        return np.ascontiguousarray(out, dtype=np.float32)

    # -- batched (torch, on the training device) -------------------------------------------

    def batch(
        self,
        x: torch.Tensor,
        lengths: torch.Tensor,
        generator: torch.Generator | None = None,
        draws: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Transform a padded batch ``x`` (N, C, T, V, M) with valid ``lengths`` (N,).

        Runs on ``x``'s device. Randomness comes from ``draws`` ((N, NUM_DRAWS) uniforms)
        if given, else from ``generator`` (on ``x``'s device; None uses torch's global
        generator). Returns ``(y (N, C, window, V, M), new_lengths (N,))``.
        """
        n, c, t_pad, v, m = x.shape
        device = x.device
        lengths = lengths.to(device=device, dtype=torch.int64)
        if n and (int(lengths.min()) < 1 or int(lengths.max()) > t_pad):
            raise ValueError(f"lengths must be in [1, {t_pad}], got {lengths.tolist()}")
        if draws is None:
            if self.is_random:
                draws = torch.rand(
                    (n, NUM_DRAWS), generator=generator, device=device, dtype=torch.float64
                )
            else:
                draws = torch.zeros((n, NUM_DRAWS), device=device, dtype=torch.float64)
        draws = draws.to(device=device, dtype=torch.float64)
        begin, size = self._batch_bounds(lengths, draws)
        # Half-pixel linear resize with the source positions of resize_indices().
        scale = (size.to(torch.float32) / self.window).to(torch.float64)
        grid = torch.arange(self.window, device=device, dtype=torch.float64) + 0.5
        src = (scale[:, None] * grid[None, :] - 0.5).to(torch.float32).clamp_min(0.0)
        lo = src.floor().to(torch.int64)
        weight = src - lo.to(torch.float32)
        hi = torch.where(lo < (size - 1)[:, None], lo + 1, lo)
        # Copy the two source frames of every output frame as rows of V*M values (one
        # index_select each, much faster than gather), then blend them.
        flat = x.contiguous().view(n * c * t_pad, v * m)
        base = (
            torch.arange(n, device=device)[:, None] * c + torch.arange(c, device=device)
        ) * t_pad
        shape = (n, c, self.window, v * m)
        rows0 = (base[:, :, None] + (begin[:, None] + lo)[:, None, :]).reshape(-1)
        rows1 = (base[:, :, None] + (begin[:, None] + hi)[:, None, :]).reshape(-1)
        x0 = flat.index_select(0, rows0).view(shape)
        x1 = flat.index_select(0, rows1).view(shape)
        out = torch.lerp(x0, x1, weight[:, None, :, None].to(x.dtype))  # (N, C, W, V*M)
        if self.rotation > 0:
            angles = ((draws[:, 2:5] * 2 - 1) * self.rotation).to(torch.float32)
            rot = _rotation_matrices(angles).to(x.dtype)
            out = torch.bmm(rot, out.reshape(n, c, -1))
        new_lengths = torch.full((n,), self.window, dtype=torch.int64, device=device)
        return out.reshape(n, c, self.window, v, m).contiguous(), new_lengths

    def _batch_bounds(
        self, lengths: torch.Tensor, draws: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectorised :func:`crop_bounds` (float64, so it matches the per-sample path)."""
        length = lengths.to(torch.float64)
        if len(self.p_interval) == 1:
            bias = ((1 - self.p_interval[0]) * length / 2).floor().to(torch.int64)
            return bias, lengths - 2 * bias
        p0, p1 = self.p_interval
        p = draws[:, 0] * (p1 - p0) + p0
        size = torch.minimum(
            torch.floor(length * p).to(torch.int64).clamp_min(self.min_frames), lengths
        )
        begin = torch.minimum(
            torch.floor(draws[:, 1] * (lengths - size + 1).to(torch.float64)).to(torch.int64),
            lengths - size,
        )
        return begin, size


def mamp_train(
    window: int = 120,
    min_ratio: float = 0.5,
    max_ratio: float = 1.0,
    min_frames: int = 64,
    rotation: float = 0.3,
) -> CropResize:
    """MAMP's train transform: random crop ``U(min_ratio, max_ratio)`` (at least
    ``min_frames``), resize to ``window``, random rotation of up to ``rotation`` radians."""
    return CropResize(
        window=window,
        p_interval=(min_ratio, max_ratio),
        min_frames=min_frames,
        rotation=rotation,
    )


def mamp_test(window: int = 120, ratio: float = 0.95) -> CropResize:
    """MAMP's test transform: centre crop keeping ``ratio`` of the valid frames, resize."""
    return CropResize(window=window, p_interval=(ratio,), rotation=0.0)


__all__ = [
    "NUM_DRAWS",
    "CropResize",
    "crop_bounds",
    "mamp_test",
    "mamp_train",
    "resize_indices",
    "rotation_matrix",
]
