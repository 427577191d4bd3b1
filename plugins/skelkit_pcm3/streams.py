"""PCM3's input streams: joint coordinates, their motion, or their bones.

The motion and bone streams of PCM3 (and CMD before it) are computed from the augmented
64-frame joint views, right before the encoder:

* ``motion``: ``m[:, :, t] = x[:, :, t + 1] - x[:, :, t]``, the last frame is 0;
* ``bone``: ``b[:, :, :, j] = x[:, :, :, j] - x[:, :, :, parent(j)]`` over the pairs of
  :data:`BONE_PAIRS`; the spine-shoulder joint is paired with itself, so its bone is 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

STREAMS = ("joint", "motion", "bone")

#: ``(joint, parent)`` pairs, 1-based NTU joint numbers, as PCM3's bone stream uses them.
BONE_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21),
    (10, 9), (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1),
    (18, 17), (19, 18), (20, 19), (21, 21), (22, 23), (23, 8), (24, 25), (25, 12),
)  # fmt: skip


def bone_parents() -> list[int]:
    """0-based parent of every joint 0..24 (a joint paired with itself is its own parent)."""
    parents = list(range(len(BONE_PAIRS)))
    for joint, parent in BONE_PAIRS:
        parents[joint - 1] = parent - 1
    return parents


def to_motion(x: Tensor) -> Tensor:
    """Frame differences of ``x (N, C, T, V, M)``; the last frame is 0."""
    out = torch.zeros_like(x)
    out[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return out


def to_bone(x: Tensor) -> Tensor:
    """Joint minus parent joint for ``x (N, C, T, V, M)`` with the 25 NTU joints."""
    if x.shape[3] != len(BONE_PAIRS):
        raise ValueError(f"the bone stream needs {len(BONE_PAIRS)} joints, got {x.shape[3]}")
    parents = torch.tensor(bone_parents(), device=x.device)
    return x - x[:, :, :, parents]


def to_stream(x: Tensor, stream: str) -> Tensor:
    """Convert joint coordinates ``x (N, C, T, V, M)`` to ``stream``."""
    if stream == "joint":
        return x
    if stream == "motion":
        return to_motion(x)
    if stream == "bone":
        return to_bone(x)
    raise ValueError(f"stream must be one of {', '.join(STREAMS)}, got {stream!r}")
