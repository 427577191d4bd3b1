"""PCM3's mixed view: swap body parts between samples over a span of frames (SkeleMixCLR).

The frames are grouped in segments of ``segment`` frames (4); a draw picks a cyclic batch
shift ``n`` in ``[1, N - 2]`` (sample ``i`` mixes with ``(i + n) % N``), 2 or 3 body parts,
a span of 7..11 segments at a random segment offset, and one of three modes:

* ``p > 0.5``, **swap**: the span x parts region is copied from the partner sample;
* ``0.25 < p <= 0.5``, **speed-changed swap**: the partner's first ``2 * span`` frames,
  resampled to ``span`` frames (nearest), are pasted into the region;
* ``p <= 0.25``, **mixup**: ``(1 - lam) * x + lam * partner`` with ``lam ~ U(0, 1)``.

The soft label ``lam`` of the swaps is the mixed share of the (segment, joint) grid; the
mixed key is ``normalize((1 - lam) k + lam k[partner])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from skelkit_pcm3.masking import BODY_PARTS, part_joints


@dataclass(frozen=True)
class MixDraw:
    """Every random choice of one mixing call (draw it, or give it in tests).

    Attributes:
        shift: the cyclic batch shift ``n``: sample ``i`` mixes with ``(i + n) % N``.
        parts: indices of the swapped body parts in :data:`BODY_PARTS`.
        span: swapped segments ``Ct``; start: first swapped segment.
        p: the mode draw; lam: the mixup coefficient (used when ``p <= 0.25``).
    """

    shift: int
    parts: tuple[int, ...]
    span: int
    start: int
    p: float
    lam: float


def draw_mix(
    batch: int,
    frames: int,
    parts: tuple[int, int] = (2, 3),
    spans: tuple[int, int] = (7, 11),
    segment: int = 4,
) -> MixDraw:
    """Draw a :class:`MixDraw` from torch's global generator (bounds inclusive)."""
    if batch < 3:
        raise ValueError(f"the mixed view needs at least 3 samples per batch, got {batch}")
    segments = frames // segment
    if spans[1] > segments:
        raise ValueError(
            f"the mixed view swaps up to {spans[1]} segments of {segment} frames but the "
            f"views have {frames} frames"
        )
    shift = int(torch.randint(1, batch - 1, (1,)))
    count = int(torch.randint(parts[0], parts[1] + 1, (1,)))
    chosen = tuple(torch.randperm(len(BODY_PARTS))[:count].tolist())
    span = int(torch.randint(spans[0], spans[1] + 1, (1,)))
    start = int(torch.randint(0, segments - span + 1, (1,)))
    p = float(torch.rand(()))
    lam = float(torch.rand(())) if p <= 0.25 else 0.0
    return MixDraw(shift=shift, parts=chosen, span=span, start=start, p=p, lam=lam)


def mix_view(x: Tensor, draw: MixDraw, segment: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    """Mix ``x (N, C, T, V, M)``; returns ``(partner index (N,), mixed x, lam (0-d))``."""
    n, _, t, v, m = x.shape
    partner = (torch.arange(n, device=x.device) + draw.shift) % n
    joints = torch.tensor(part_joints(draw.parts), device=x.device, dtype=torch.long)
    first, frames = draw.start * segment, draw.span * segment
    mixed = x.clone()
    if draw.p > 0.5:
        region = x[partner][:, :, first : first + frames][:, :, :, joints]
    elif draw.p > 0.25:
        head = x[:, :, : 2 * frames].permute(0, 4, 3, 1, 2).reshape(n * m, v * x.shape[1], -1)
        resized = F.interpolate(head, size=frames, mode="nearest")
        resized = resized.reshape(n, m, v, x.shape[1], frames).permute(0, 3, 4, 2, 1)
        region = resized[partner][:, :, :, joints]
    else:
        lam = torch.tensor(draw.lam, dtype=x.dtype, device=x.device)
        return partner, x * (1 - draw.lam) + x[partner] * draw.lam, lam
    mixed[:, :, first : first + frames, joints] = region
    share = draw.span * len(joints) / ((t // segment) * v)
    return partner, mixed, torch.tensor(share, dtype=x.dtype, device=x.device)
