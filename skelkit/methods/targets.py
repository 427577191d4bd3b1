"""Prediction targets of the masked method, and the token helpers they share.

A target is built from its config section, then bound once to the method
(:meth:`TokenTarget.bind`) to learn the token geometry (and, for teacher targets, to see
the encoder). Called with the unmasked person-sequences ``(B, C, T, V)`` it returns
``(B, L, D_t)`` in token order ``l = t' * V + v``. A target that keeps state (an EMA
teacher) implements ``after_optimizer_step(step, total_steps)``; the method forwards the
engine's hook to it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from torch import Tensor, nn

from skelkit.errors import ConfigError

if TYPE_CHECKING:
    from skelkit.methods.masked import MaskedMethod


def patchify(seq: Tensor, segment_length: int) -> Tensor:
    """Cut ``(B, C, T, V)`` into per-joint segments ``(B, T', V, s * C)``.

    The last axis is frame-major, coordinate-minor (``u * C + c``), the references' order.
    """
    b, c, t, v = seq.shape
    s = segment_length
    return seq.reshape(b, c, t // s, s, v).permute(0, 2, 4, 3, 1).reshape(b, t // s, v, s * c)


def normalize_tokens(tokens: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise every token over its last axis: unbiased variance, ``eps`` in the root."""
    mean = tokens.mean(dim=-1, keepdim=True)
    var = tokens.var(dim=-1, keepdim=True)
    return (tokens - mean) / (var + eps).sqrt()


class TokenTarget(nn.Module):
    """Base of targets computed from the input's per-joint segments.

    :meth:`values` gives the per-frame values to predict (the coordinates unless a subclass
    says otherwise); they are patchified and, if ``normalize``, standardised per token.
    """

    def __init__(self, normalize: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        self.normalize = normalize
        self.eps = eps
        self.segment_length = 0
        self.in_channels = 0

    def bind(self, method: MaskedMethod) -> None:
        """Learn the token geometry from the method's encoder."""
        encoder: Any = method.encoder
        self.segment_length = int(encoder.segment_length)
        self.in_channels = int(encoder.in_channels)

    @property
    def dim(self) -> int:
        """Width of one token's target: ``segment_length * C``."""
        if not self.segment_length:
            raise RuntimeError("bind() the target to a method before asking its width")
        return self.segment_length * self.in_channels

    def values(self, seq: Tensor) -> Tensor:
        """Per-frame values ``(B, C, T, V)`` whose segments are predicted.

        The coordinates themselves (the MAE target); subclasses predict a function of them
        (MAMP's motion target overrides this with frame differences).
        """
        return seq

    def forward(self, seq: Tensor) -> Tensor:
        """Target ``(B, L, D_t)`` of the unmasked sequences ``seq (B, C, T, V)``."""
        grid = patchify(self.values(seq), self.segment_length)
        tokens = grid.reshape(grid.shape[0], -1, grid.shape[-1])
        return normalize_tokens(tokens, self.eps) if self.normalize else tokens


class CoordinateTarget(TokenTarget):
    """The MAE target: the joint coordinates of every segment (the base's ``values``)."""


def build_coords_target(normalize: bool = True, eps: float = 1e-6) -> CoordinateTarget:
    """Factory of the ``coords`` target: per-token coordinates (the MAE baseline).

    Args:
        normalize: standardise each token's values (mean 0, unbiased variance 1).
        eps: added to the variance inside the square root.
    """
    if eps < 0:
        raise ConfigError(f"target.eps must be >= 0, got {eps}")
    return CoordinateTarget(normalize=normalize, eps=eps)
