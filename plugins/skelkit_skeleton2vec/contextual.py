"""Skeleton2vec's contextual target: an EMA teacher's averaged block outputs.

The teacher is a copy of the student encoder taken when the target is bound to the method
(after the encoder's initialisation). It runs in eval mode without gradients on the
*unmasked* person-sequences, the same augmented clip the student sees. The target of every
token is::

    y = LN( mean over the top-K blocks l of  norm_l(h_l) )

with ``h_l`` the residual stream after block ``l`` (before the encoder's final norm),
``norm_l`` an instance norm over the tokens of every channel (or a layer norm over the
channels of every token), and ``LN`` a layer norm without affine parameters (data2vec 2.0
as configured by Skeleton2vec: K = 8, instance norm, final layer norm).

After every optimizer step the teacher moves towards the student:
``teacher = tau * teacher + (1 - tau) * student`` with ``tau`` linear in the step from
``ema_start`` to ``ema_end`` over ``ema_steps`` updates (the run's planned steps when 0),
``ema_end`` afterwards. The teacher's weights are part of the method's state, so they are
saved in checkpoints and a resumed run continues exactly.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError

if TYPE_CHECKING:
    from skelkit.methods.masked import MaskedMethod

LAYER_NORMS = ("instance_norm", "layer_norm", "none")
DOWNSTREAM = ("teacher", "student")


def annealed_rate(start: float, end: float, update: int, total: int) -> float:
    """EMA rate of update number ``update`` (0-based): linear from ``start`` to ``end``."""
    if update >= total:
        return end
    return end - (end - start) * (1 - update / total)


def normalize_layer(hidden: Tensor, kind: str) -> Tensor:
    """Normalise one block output ``(B, L, D)`` (float32) as ``kind`` says."""
    hidden = hidden.float()
    if kind == "instance_norm":
        return F.instance_norm(hidden.transpose(1, 2)).transpose(1, 2)
    if kind == "layer_norm":
        return F.layer_norm(hidden, hidden.shape[-1:])
    return hidden


class ContextualTarget(nn.Module):
    """EMA-teacher target of the ``masked`` method (see the module docstring)."""

    def __init__(
        self,
        top_k: int = 8,
        layer_norm: str = "instance_norm",
        final_norm: bool = True,
        ema_start: float = 0.9999,
        ema_end: float = 1.0,
        ema_steps: int = 0,
        downstream: str = "teacher",
    ) -> None:
        super().__init__()
        self.top_k = top_k
        self.layer_norm = layer_norm
        self.final_norm = final_norm
        self.ema_start = ema_start
        self.ema_end = ema_end
        self.ema_steps = ema_steps
        self.downstream = downstream
        self.teacher: nn.Module | None = None
        self.last_rate = ema_start

    def bind(self, method: MaskedMethod) -> None:
        """Copy the method's (initialised) encoder as the teacher; keep a link to the student."""
        encoder: Any = method.encoder
        if not callable(getattr(encoder, "encode_tokens", None)) or not hasattr(encoder, "blocks"):
            raise ConfigError(
                f"target 'contextual' needs a transformer encoder with blocks; "
                f"{type(encoder).__name__} has none (use encoder.name=transformer)"
            )
        depth = len(encoder.blocks)
        if not 1 <= self.top_k <= depth:
            raise ConfigError(
                f"target.top_k={self.top_k} must be between 1 and the encoder's {depth} blocks"
            )
        teacher = copy.deepcopy(encoder)
        teacher.requires_grad_(False)
        self.teacher = teacher.eval()
        # A plain attribute, not a submodule: the student is saved once, as method.encoder.
        self.__dict__["student"] = encoder

    @property
    def dim(self) -> int:
        """Width of the target: the encoder's feature width."""
        if self.teacher is None:
            raise RuntimeError("bind() the target to a method before asking its width")
        return int(self.teacher.feature_dim)  # type: ignore[arg-type]

    @property
    def downstream_encoder(self) -> str | None:
        """Submodule evaluation and export use: ``teacher``, or None for the student."""
        return "teacher" if self.downstream == "teacher" else None

    def train(self, mode: bool = True) -> ContextualTarget:
        """Set the mode; the teacher always stays in eval mode."""
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def forward(self, seq: Tensor) -> Tensor:
        """Target ``(B, L, D)`` of the unmasked person-sequences ``seq (B, C, T, V)``."""
        teacher: Any = self.teacher
        if teacher is None:
            raise RuntimeError("bind() the target to a method before using it")
        hidden: list[Tensor] = []
        with torch.no_grad():
            teacher.encode_tokens(teacher.embed(seq), hidden=hidden)
            layers = [normalize_layer(h, self.layer_norm) for h in hidden[-self.top_k :]]
            y = sum(layers[1:], layers[0]) / len(layers)
            if self.final_norm:
                y = F.layer_norm(y, y.shape[-1:])
        return y

    def rate(self, update: int, total_steps: int) -> float:
        """EMA rate of update number ``update`` (0-based) in a run of ``total_steps``."""
        steps = self.ema_steps or total_steps
        return annealed_rate(self.ema_start, self.ema_end, update, max(steps, 1))

    @torch.no_grad()
    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Move the teacher towards the student after optimizer step ``step`` (1-based)."""
        student: nn.Module = self.__dict__["student"]
        assert self.teacher is not None
        tau = self.rate(step - 1, total_steps)
        self.last_rate = tau
        if tau == 1.0:
            return
        for mine, theirs in zip(
            self.teacher.state_dict().values(), student.state_dict().values(), strict=True
        ):
            if mine.is_floating_point():
                mine.mul_(tau).add_(theirs.detach().to(mine.dtype), alpha=1.0 - tau)
            else:
                mine.copy_(theirs)

    def extra_repr(self) -> str:
        return (
            f"top_k={self.top_k}, layer_norm={self.layer_norm!r}, final_norm={self.final_norm}, "
            f"ema=({self.ema_start} -> {self.ema_end}), downstream={self.downstream!r}"
        )


def build_contextual_target(
    top_k: int = 8,
    layer_norm: str = "instance_norm",
    final_norm: bool = True,
    ema_start: float = 0.9999,
    ema_end: float = 1.0,
    ema_steps: int = 0,
    downstream: str = "teacher",
) -> ContextualTarget:
    """Factory of the ``contextual`` target (Skeleton2vec, data2vec 2.0).

    Args:
        top_k: number of last teacher blocks averaged (8: all of them).
        layer_norm: normalisation of each block output: ``instance_norm`` (over the tokens
            of every channel), ``layer_norm`` (over the channels of every token) or ``none``.
        final_norm: layer-normalise the average (no affine parameters).
        ema_start: EMA rate of the first update.
        ema_end: EMA rate reached after ``ema_steps`` updates (1.0 freezes the teacher).
        ema_steps: updates over which the rate goes linearly from ``ema_start`` to
            ``ema_end``; 0 uses the run's planned optimizer steps.
        downstream: encoder that evaluation, embedding and export use: ``teacher`` (the
            authors' choice) or ``student``.
    """
    if top_k < 1:
        raise ConfigError(f"target.top_k must be >= 1, got {top_k}")
    if layer_norm not in LAYER_NORMS:
        raise ConfigError(
            f"target.layer_norm must be one of {', '.join(LAYER_NORMS)}, got {layer_norm!r}"
        )
    for key, value in (("ema_start", ema_start), ("ema_end", ema_end)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"target.{key} must be in [0, 1], got {value}")
    if ema_steps < 0:
        raise ConfigError(f"target.ema_steps must be >= 0 (0: the run's steps), got {ema_steps}")
    if downstream not in DOWNSTREAM:
        raise ConfigError(
            f"target.downstream must be one of {', '.join(DOWNSTREAM)}, got {downstream!r}"
        )
    return ContextualTarget(
        top_k=top_k,
        layer_norm=layer_norm,
        final_norm=final_norm,
        ema_start=ema_start,
        ema_end=ema_end,
        ema_steps=ema_steps,
        downstream=downstream,
    )
