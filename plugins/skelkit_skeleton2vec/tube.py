"""Skeleton2vec's motion-aware tube masker.

Time is cut into tubes of ``tube_len`` temporal tokens. In every tube each joint gets the
score ``U(0, 1) + beta * motion``, where ``motion`` is the joint's mean absolute
frame-to-frame motion over the tube divided by the largest one of the tube (so it lies in
``[0, 1]``); the ``int(V * (1 - ratio))`` joints with the lowest scores stay visible for the
whole tube, the rest is hidden. Moving joints are thus hidden more often; ``beta = 0`` is
plain random tube masking.

Frame motion is ``x[t + 1] - x[t]`` along the clip, 0 for its last frame (the authors'
``ToMotion``), computed per person-sequence from the patchified input.

Two orderings of the kept tokens for the decoder exist (see ``decoder_order``): the correct
one, and the authors' code's, which un-shuffles every time row of
``[kept tokens, mask tokens]`` flattened together, so that the kept tokens land in the
first time rows rather than at their own positions (reproduces their published numbers).
"""

from __future__ import annotations

import torch
from torch import Tensor

from skelkit.errors import ConfigError
from skelkit.methods.maskers import MaskResult, check_ratio, keep_count

DECODER_ORDERS = ("correct", "official")


def frames_of(patches: Tensor, channels: int) -> Tensor:
    """Undo the patchify: ``(B, T', V, s * C)`` -> frames ``(B, T' * s, V, C)``."""
    b, t, v, p = patches.shape
    s = p // channels
    return patches.reshape(b, t, v, s, channels).permute(0, 1, 3, 2, 4).reshape(b, t * s, v, -1)


def token_motion(patches: Tensor, channels: int) -> Tensor:
    """Mean absolute frame motion of every token: ``(B, T', V, s * C)`` -> ``(B, T', V)``."""
    b, t, v, p = patches.shape
    frames = frames_of(patches, channels)
    motion = torch.zeros_like(frames)
    motion[:, :-1] = frames[:, 1:] - frames[:, :-1]
    s = p // channels
    per_token = motion.reshape(b, t, s, v, channels).permute(0, 1, 3, 2, 4).reshape(b, t, v, p)
    return per_token.abs().mean(dim=-1)


def tube_motion(patches: Tensor, channels: int, tube_len: int) -> Tensor:
    """Tube-averaged token motion divided by its maximum over joints: ``(B, T'/a, V)``."""
    b, t, v, _ = patches.shape
    motion = token_motion(patches, channels).reshape(b, t // tube_len, tube_len, v).mean(dim=2)
    return motion / (motion.amax(dim=-1, keepdim=True) + 1e-6)


class TubeMasker:
    """Motion-aware tube masking (Skeleton2vec); see the module docstring."""

    def __init__(
        self,
        ratio: float = 0.9,
        tube_len: int = 5,
        beta: float = 0.1,
        channels: int = 3,
        decoder_order: str = "correct",
    ) -> None:
        check_ratio("masker", ratio)
        self.ratio = ratio
        self.tube_len = tube_len
        self.beta = beta
        self.channels = channels
        self.decoder_order = decoder_order

    def _check(self, patches: Tensor) -> tuple[int, int, int, int]:
        b, t, v, p = patches.shape
        if t % self.tube_len:
            raise ConfigError(
                f"masker.tube_len={self.tube_len} must divide the {t} temporal tokens of the "
                "encoder (num_frames / segment_length); choose a divisor of it"
            )
        if p % self.channels:
            raise ConfigError(
                f"masker.channels={self.channels} does not divide the {p} values of a token; "
                "set it to the coordinates per joint (3)"
            )
        n_keep = keep_count(v, self.ratio)
        if n_keep < 1:
            raise ConfigError(
                f"masker.ratio={self.ratio} keeps no joint of {v} per tube "
                f"(int({v} * (1 - ratio)) = 0); lower the ratio"
            )
        return b, t, v, n_keep

    def __call__(self, patches: Tensor, noise: Tensor | None = None) -> MaskResult:
        """Mask ``patches (B, T', V, P)``; ``noise (B, T' / tube_len, V)`` replaces the draw."""
        b, t, v, n_keep = self._check(patches)
        tubes = t // self.tube_len
        if noise is None:
            noise = torch.rand(b, tubes, v, device=patches.device)
        elif noise.shape != (b, tubes, v):
            raise ValueError(f"noise must have shape {(b, tubes, v)}, got {tuple(noise.shape)}")
        scores = noise.to(patches.device)
        if self.beta:
            scores = scores + self.beta * tube_motion(patches, self.channels, self.tube_len)
        row_shuffle = torch.argsort(scores, dim=-1).repeat_interleave(self.tube_len, dim=1)
        return tube_result(row_shuffle, n_keep, official=self.decoder_order == "official")

    def __repr__(self) -> str:
        return (
            f"TubeMasker(ratio={self.ratio}, tube_len={self.tube_len}, beta={self.beta}, "
            f"decoder_order={self.decoder_order!r})"
        )


def tube_result(row_shuffle: Tensor, n_keep: int, official: bool = False) -> MaskResult:
    """The :class:`MaskResult` of keeping the first ``n_keep`` joints of every time row.

    ``row_shuffle (B, T', V)`` orders every row's joints, kept ones first. The encoder sees
    the kept tokens time-major, in that order within a row. ``official`` builds the
    authors' decoder placement instead of the correct ``ids_restore``.
    """
    b, t, v = row_shuffle.shape
    base = (torch.arange(t, device=row_shuffle.device) * v).view(1, t, 1)
    flat = row_shuffle + base
    ids_keep = flat[:, :, :n_keep].reshape(b, -1)
    row_restore = torch.argsort(row_shuffle, dim=-1)
    mask = (row_restore >= n_keep).reshape(b, -1)
    if official:
        # The authors' decoder: row t of [kept, mask tokens] (flattened, cut into rows of V)
        # gathered with that row's own restore order.
        ids_restore = (row_restore + base).reshape(b, -1)
    else:
        ids_shuffle = torch.cat([ids_keep, flat[:, :, n_keep:].reshape(b, -1)], dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
    return MaskResult(mask=mask, ids_keep=ids_keep, ids_restore=ids_restore)


def build_tube_masker(
    ratio: float = 0.9,
    tube_len: int = 5,
    beta: float = 0.1,
    channels: int = 3,
    decoder_order: str = "correct",
) -> TubeMasker:
    """Factory of the ``tube`` masker (Skeleton2vec).

    Args:
        ratio: fraction of joints hidden in every tube; ``int(V * (1 - ratio))`` stay
            visible (2 of 25 at 0.9, i.e. 92 % hidden, as in the authors' code).
        tube_len: temporal tokens per tube (5: 15 frames at 3-frame segments); it must
            divide the encoder's temporal tokens.
        beta: weight of the tube-normalised motion in the score (0.1 NTU-60 / PKU-MMD,
            0.2 NTU-120); 0 gives random tube masking.
        channels: coordinates per joint and frame in the input.
        decoder_order: ``correct`` places every kept token at its own grid position in the
            decoder; ``official`` reproduces the authors' code, whose decoder puts the
            kept tokens into the first time rows (their published numbers were obtained
            with it).
    """
    if tube_len < 1:
        raise ConfigError(f"masker.tube_len must be >= 1, got {tube_len}")
    if beta < 0:
        raise ConfigError(f"masker.beta must be >= 0, got {beta}")
    if channels < 1:
        raise ConfigError(f"masker.channels must be >= 1, got {channels}")
    if decoder_order not in DECODER_ORDERS:
        raise ConfigError(
            f"masker.decoder_order must be one of {', '.join(DECODER_ORDERS)}, "
            f"got {decoder_order!r}"
        )
    return TubeMasker(
        ratio=ratio, tube_len=tube_len, beta=beta, channels=channels, decoder_order=decoder_order
    )
