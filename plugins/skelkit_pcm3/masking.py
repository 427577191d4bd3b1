"""PCM3's body-part masker: hide 3 of the 5 body parts in every temporal chunk.

The frames are cut into ``chunks`` equal chunks (8 chunks of 8 frames at PCM3's 64
frames); in each chunk ``parts`` of the five body parts of :data:`BODY_PARTS` are drawn
without replacement and all their joints are hidden for the whole chunk. As in the
official code one draw is shared by every sample of the batch, and (in PCM3) the second
person stays visible.

The masker serves two callers:

* PCM3 (:meth:`BodyPartMasker.visible`): a float ``(T, V)`` map, 1 = visible;
* the core ``masked`` method (``__call__``): a :class:`~skelkit.methods.maskers.MaskResult`
  over the ``(T', V)`` token grid, chunks taken over the ``T'`` segments. Every row gets the
  same mask, so every row keeps the same number of tokens.
"""

from __future__ import annotations

import torch
from torch import Tensor

from skelkit.errors import ConfigError
from skelkit.methods.maskers import MaskResult, mask_from_scores

#: The five body parts as 1-based NTU joint numbers (trunk, two arms, two legs).
BODY_PARTS_1BASED: tuple[tuple[int, ...], ...] = (
    (4, 3, 21, 2, 1),
    (9, 10, 11, 12, 24, 25),
    (5, 6, 7, 8, 22, 23),
    (17, 18, 19, 20),
    (13, 14, 15, 16),
)
#: The same parts, 0-based joint indices.
BODY_PARTS: tuple[tuple[int, ...], ...] = tuple(
    tuple(j - 1 for j in part) for part in BODY_PARTS_1BASED
)


def chunk_bounds(length: int, chunks: int) -> list[tuple[int, int]]:
    """``chunks`` consecutive ``[start, stop)`` ranges covering ``length`` positions.

    Equal chunks when ``chunks`` divides ``length`` (8 x 8 frames at 64 frames).
    """
    return [(i * length // chunks, (i + 1) * length // chunks) for i in range(chunks)]


def part_joints(parts: list[int] | tuple[int, ...]) -> list[int]:
    """Sorted 0-based joints of the given body-part indices."""
    return sorted(j for p in parts for j in BODY_PARTS[p])


class BodyPartMasker:
    """Hide ``parts`` random body parts per temporal chunk (shared across the batch)."""

    def __init__(self, parts: int = 3, chunks: int = 8) -> None:
        if not 0 <= parts <= len(BODY_PARTS):
            raise ConfigError(f"masker.parts must be in [0, {len(BODY_PARTS)}], got {parts}")
        if chunks < 1:
            raise ConfigError(f"masker.chunks must be >= 1, got {chunks}")
        self.parts = parts
        self.chunks = chunks

    def draw(self) -> list[list[int]]:
        """The body parts hidden in every chunk (torch's global generator)."""
        return [
            sorted(torch.randperm(len(BODY_PARTS))[: self.parts].tolist())
            for _ in range(self.chunks)
        ]

    def visible(
        self, length: int, num_joints: int = 25, draw: list[list[int]] | None = None
    ) -> Tensor:
        """Float ``(length, num_joints)`` map, 1 = visible, 0 = hidden.

        ``draw`` (the parts of every chunk, as :meth:`draw` returns) replaces the draw.
        """
        if num_joints != 25:
            raise ConfigError(f"the body-part masker needs the 25 NTU joints, got {num_joints}")
        if length < self.chunks:
            raise ConfigError(
                f"the body-part masker cuts {length} frames into {self.chunks} chunks; set "
                "masker.chunks to at most the number of frames"
            )
        draw = self.draw() if draw is None else draw
        if len(draw) != self.chunks:
            raise ValueError(f"draw must give the parts of {self.chunks} chunks, got {len(draw)}")
        out = torch.ones(length, num_joints)
        for (start, stop), parts in zip(chunk_bounds(length, self.chunks), draw, strict=True):
            joints = part_joints(parts)
            if joints:
                out[start:stop, joints] = 0.0
        return out

    def __call__(self, patches: Tensor, noise: Tensor | None = None) -> MaskResult:
        """Mask the token grid ``patches (B, T', V, P)`` of the core ``masked`` method."""
        if noise is not None:
            raise ValueError("the body-part masker draws body parts, not per-token noise")
        b, t, v, _ = patches.shape
        hidden = 1.0 - self.visible(t, v).reshape(1, t * v).expand(b, -1)
        num_keep = int((hidden[0] == 0).sum())
        # Kept tokens first (score 0), in grid order; ties keep their order (stable sort).
        scores = hidden + torch.arange(t * v).to(hidden) / (2.0 * t * v)
        return mask_from_scores(scores.to(patches.device), num_keep)

    def __repr__(self) -> str:
        return f"BodyPartMasker(parts={self.parts}, chunks={self.chunks})"


def build_body_part_masker(parts: int = 3, chunks: int = 8) -> BodyPartMasker:
    """Factory of the ``body_parts`` masker (PCM3's ``Jointmask3`` at ratio 0.6).

    Args:
        parts: body parts hidden per chunk, of 5 (``int(5 * 0.6) = 3``).
        chunks: temporal chunks (8 chunks of 8 frames at 64 frames).
    """
    return BodyPartMasker(parts=parts, chunks=chunks)
