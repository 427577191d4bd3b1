"""pyskl's loader transforms, as Skeleton2vec uses them: PreNormalize3D, RandomRot and
UniformSampleDecode, then the 2-person zero padding of FormatGCNInput.

They run per sample on the stored frames, reproducing pyskl's arithmetic. The frames are
first rounded to float16, as pyskl's annotations are (a no-op on ``pyskl`` stores, whose
frames are float16 values; stores of other recipes lose precision, as they would in pyskl):

* **PreNormalize3D** on the float16 keypoints: drop the frames where the main person is all
  (close to) zero, taking as main person whoever has more such frames (swapping persons
  if it is the second); subtract the main person's joint 1 in its first frame, in
  float16, keeping zero joints at zero; optionally (``align_spine``, pyskl's default, off
  in Skeleton2vec except NTU-60 xview) rotate in float64 so that joints 0 -> 1 of that
  frame align with z and joints 8 -> 4 with x. A sample that is all zero passes unchanged.
* **RandomRot** (train): ``R = Rz @ Ry @ Rx`` with three angles ``U(-rotation, rotation)``,
  applied in float64.
* **UniformSampleDecode** to ``window`` frames of the ``T`` valid frames: ``T < window``
  loops from a random start; ``window <= T < 2 window`` inserts ``T - window`` random
  single-frame skips; longer clips take one random frame of each of ``window`` equal
  segments. The result is cast to float32. At test time the draws come from a fresh
  ``np.random.RandomState(seed)`` per sample (pyskl's ``test_mode`` seed 255), so the test
  transform equals pyskl's; at train time from the loader's per-sample generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skelkit.errors import ConfigError

#: Joints of the spine (bottom, top) and shoulders (right, left) for ``align_spine``.
Z_AXIS = (0, 1)
X_AXIS = (8, 4)
#: The centre joint (middle of the spine) for 25-joint skeletons; else the last joint.
CENTRE_JOINT = 1


def _valid_frames(person: np.ndarray) -> np.ndarray:
    """Frames of ``person (T, V, C)`` with a coordinate not close to 0 (``np.isclose``)."""
    return ~np.all(np.isclose(person, 0), axis=(1, 2))


def _axis_angle_matrix(axis: np.ndarray, theta: float) -> np.ndarray:
    """Euler-Rodrigues matrix of the rotation by ``theta`` about ``axis`` (float64)."""
    if np.abs(axis).sum() < 1e-6 or np.abs(theta) < 1e-6:
        return np.eye(3)
    axis = np.asarray(axis) / np.sqrt(np.dot(axis, axis))
    a = np.cos(theta / 2.0)
    b, c, d = -axis * np.sin(theta / 2.0)
    aa, bb, cc, dd = a * a, b * b, c * c, d * d
    bc, ad, ac, ab, bd, cd = b * c, a * d, a * c, a * b, b * d, c * d
    return np.array(
        [
            [aa + bb - cc - dd, 2 * (bc + ad), 2 * (bd - ac)],
            [2 * (bc - ad), aa + cc - bb - dd, 2 * (cd + ab)],
            [2 * (bd + ac), 2 * (cd - ab), aa + dd - bb - cc],
        ]
    )


def _angle(v1: np.ndarray, v2: np.ndarray) -> float:
    """Angle between two vectors; 0 when one of them is (nearly) zero."""
    if np.abs(v1).sum() < 1e-6 or np.abs(v2).sum() < 1e-6:
        return 0.0
    u1 = v1 / np.linalg.norm(v1)
    u2 = v2 / np.linalg.norm(v2)
    return float(np.arccos(np.clip(np.dot(u1, u2), -1.0, 1.0)))


def _align(kp: np.ndarray, joints: tuple[int, int], direction: list[int]) -> np.ndarray:
    """Rotate ``kp (M, T, V, C)`` so that ``joints[1] - joints[0]`` (frame 0) is ``direction``."""
    vector = kp[0, 0, joints[1]] - kp[0, 0, joints[0]]
    axis = np.cross(vector, direction)
    matrix = _axis_angle_matrix(axis, _angle(vector, np.asarray(direction)))
    out: np.ndarray = np.einsum("abcd,kd->abck", kp, matrix)
    return out


def pre_normalize(kp: np.ndarray, align_spine: bool = False) -> np.ndarray:
    """PreNormalize3D of float16 keypoints ``(M, T, V, C)``.

    Returns float16 (no spine alignment) or float64 (with it); an all-zero sample, or one
    without a valid frame, is returned unchanged.
    """
    if kp.sum() == 0:
        return kp
    valid0 = _valid_frames(kp[0])
    if kp.shape[0] == 2:
        valid1 = _valid_frames(kp[1])
        if valid0.sum() < valid1.sum():
            kp = kp[:, valid1][[1, 0]]
        else:
            kp = kp[:, valid0]
    else:
        kp = kp[:, valid0]
    if kp.shape[1] == 0:
        return kp
    centre = kp[0, 0, CENTRE_JOINT if kp.shape[2] == 25 else -1].copy()
    nonzero = ((kp != 0).sum(-1) > 0)[..., None]
    kp = (kp - centre) * nonzero
    if align_spine:
        kp = _align(kp, Z_AXIS, [0, 0, 1])
        kp = _align(kp, (X_AXIS[1], X_AXIS[0]), [1, 0, 0])
    return kp


def rotation_matrix(theta: np.ndarray) -> np.ndarray:
    """RandomRot's ``Rz @ Ry @ Rx`` (float64) for angles ``(ax, ay, az)``."""
    cos, sin = np.cos(theta), np.sin(theta)
    rx = np.array([[1, 0, 0], [0, cos[0], sin[0]], [0, -sin[0], cos[0]]])
    ry = np.array([[cos[1], 0, -sin[1]], [0, 1, 0], [sin[1], 0, cos[1]]])
    rz = np.array([[cos[2], sin[2], 0], [-sin[2], cos[2], 0], [0, 0, 1]])
    return np.matmul(rz, np.matmul(ry, rx))


def _integers(rng: Any, high: Any) -> Any:
    """``[0, high)`` integers from a Generator or a legacy RandomState, same call shape."""
    if isinstance(rng, np.random.Generator):
        return rng.integers(high)
    return rng.randint(high)


def sample_indices(length: int, window: int, rng: Any) -> np.ndarray:
    """UniformSampleDecode's frame indices (one clip, whole sequence) of ``length`` frames."""
    # The reference draws a crop ratio and an offset even without cropping (p_interval 1).
    rng.random()
    num = length
    off = _integers(rng, 1)
    if num < window:
        start = _integers(rng, num)
        inds = (np.arange(start, start + window) % num) + off
    elif num < 2 * window:
        skips = rng.choice(window + 1, num - window, replace=False)
        offset = np.zeros(window + 1, dtype=np.int64)
        offset[skips] = 1
        inds = np.arange(window) + np.cumsum(offset)[:-1] + off
    else:
        bounds = np.array([i * num // window for i in range(window + 1)])
        inds = bounds[:window] + _integers(rng, np.diff(bounds)) + off
    return np.asarray(inds, dtype=np.int64)


@dataclass(frozen=True)
class PysklTransform:
    """PreNormalize3D (+ RandomRot at train time) + UniformSampleDecode, per sample.

    Attributes:
        window: output frames (``clip_len``; 90 in Skeleton2vec).
        rotation: maximal RandomRot angle in radians; 0 disables it.
        align_spine: PreNormalize3D's spine / shoulder alignment.
        test: draw from ``np.random.RandomState(seed)`` per sample (pyskl's test mode)
            instead of the loader's generator.
        seed: the test-mode seed (255 in pyskl).
    """

    window: int = 90
    rotation: float = 0.0
    align_spine: bool = False
    test: bool = False
    seed: int = 255

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ConfigError(f"transform window must be >= 1, got {self.window}")
        if self.rotation < 0:
            raise ConfigError(f"transform rotation must be >= 0 radians, got {self.rotation}")

    @property
    def is_random(self) -> bool:
        """Whether the output depends on the loader's generator (train mode)."""
        return not self.test

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Transform one sample's valid frames ``x (C, T, V, M)`` to ``(C, window, V, M)``."""
        if self.test:
            draws: Any = np.random.RandomState(self.seed)
        elif rng is None:
            raise ValueError("the pyskl train transform needs an rng")
        else:
            draws = rng
        kp = pre_normalize(np.asarray(x).transpose(3, 1, 2, 0).astype(np.float16), self.align_spine)
        theta = None
        if not self.test and self.rotation > 0 and not np.all(np.isclose(kp, 0)):
            theta = draws.uniform(-self.rotation, self.rotation, size=3)
        if kp.shape[1] == 0:  # nothing valid: keep the (all-zero) input length
            kp = np.asarray(x).transpose(3, 1, 2, 0).astype(np.float16)
        clip = kp[:, sample_indices(kp.shape[1], self.window, draws)]
        if theta is not None:
            clip = np.einsum("ab,mtvb->mtva", rotation_matrix(theta), clip)
        return np.ascontiguousarray(clip.astype(np.float32).transpose(3, 1, 2, 0))

    def batch(self, *args: Any, **kwargs: Any) -> Any:
        """pyskl's transforms run per sample only."""
        raise ConfigError(
            "the pyskl transforms run per sample in the loader workers; "
            "set data.batched_transform=false"
        )


def pyskl_train(
    window: int = 90, rotation: float = 0.3, align_spine: bool = False
) -> PysklTransform:
    """Skeleton2vec's train transform: PreNormalize3D, RandomRot, UniformSampleDecode.

    Args:
        window: frames of the output clip.
        rotation: maximal rotation angle about each axis, radians (0 disables it).
        align_spine: PreNormalize3D's spine / shoulder alignment (on only for NTU-60
            xview in Skeleton2vec; pyskl's own default is on).
    """
    return PysklTransform(window=window, rotation=rotation, align_spine=align_spine)


def pyskl_test(window: int = 90, align_spine: bool = False, seed: int = 255) -> PysklTransform:
    """pyskl's test transform: PreNormalize3D, UniformSampleDecode in test mode (one clip).

    Args:
        window: frames of the output clip.
        align_spine: PreNormalize3D's spine / shoulder alignment.
        seed: seed of the per-sample ``RandomState`` (255 in pyskl).
    """
    return PysklTransform(window=window, align_spine=align_spine, test=True, seed=seed)
