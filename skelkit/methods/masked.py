"""The generic masked-prediction method (MAE-style), configured by MAMP and Skeleton2vec.

Per person-sequence: embed all tokens, let the masker hide most of them, encode the kept
tokens only, decode every token (mask tokens at the hidden positions), and regress the
target of the unmasked input on the hidden tokens.

Encoder contract used here (the core ``transformer`` encoder has it): ``to_sequences``,
``embed``, ``encode_tokens``, ``segment_length``, ``in_channels``, ``num_segments``,
``num_joints``, ``feature_dim``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

from skelkit.errors import ConfigError
from skelkit.methods.maskers import MaskResult
from skelkit.methods.targets import patchify
from skelkit.nn.decoder import MaskedDecoder

ENCODER_API = (
    "to_sequences",
    "embed",
    "encode_tokens",
    "segment_length",
    "in_channels",
    "num_segments",
    "num_joints",
    "feature_dim",
)


@dataclass(frozen=True)
class DecoderSettings:
    """Shape of the decoder (see :func:`build_masked_method` for the meaning of each)."""

    dim: int = 256
    depth: int = 3
    num_heads: int = 8
    mlp_ratio: float = 4.0
    norm_eps: float = 1e-5
    layer_scale: float = 0.0
    fused_qkv: bool = True
    init: str = "xavier"


@dataclass(frozen=True)
class MaskedOutput:
    """Everything one forward pass computed (for tests and analysis)."""

    loss: Tensor
    pred: Tensor
    target: Tensor
    masking: MaskResult


class MaskedMethod(nn.Module):
    """Encoder + masker + decoder + target + loss.

    ``forward(batch)`` takes the engine's batch dict (``"x"``: ``(N, C, T, V, M)``) and
    returns ``(loss, logs)``. ``encoder`` is the part that evaluation and export use.
    """

    def __init__(
        self,
        encoder: nn.Module,
        masker: Any,
        target: Any,
        loss: Any,
        decoder: DecoderSettings,
    ) -> None:
        super().__init__()
        check_encoder(encoder)
        enc: Any = encoder
        self.encoder = encoder
        # Modules become submodules (saved, moved to the device); plain callables do not.
        self.masker = masker
        self.target = target
        self.loss_fn = loss
        bind = getattr(target, "bind", None)
        if callable(bind):
            bind(self)  # the target may inspect (or copy) the encoder before the decoder exists
        self.decoder = MaskedDecoder(
            in_dim=int(enc.feature_dim),
            out_dim=int(target.dim),
            num_segments=int(enc.num_segments),
            num_joints=int(enc.num_joints),
            dim=decoder.dim,
            depth=decoder.depth,
            num_heads=decoder.num_heads,
            mlp_ratio=decoder.mlp_ratio,
            norm_eps=decoder.norm_eps,
            layer_scale=decoder.layer_scale,
            fused_qkv=decoder.fused_qkv,
            init=decoder.init,
        )

    def forward_details(self, x: Tensor, noise: Tensor | None = None) -> MaskedOutput:
        """Run one masked-prediction pass over ``x (N, C, T, V, M)``.

        ``noise`` replaces the masker's random draw (its shape is the masker's).
        """
        enc: Any = self.encoder
        seq = enc.to_sequences(x)
        tokens = enc.embed(seq)
        b, _, d = tokens.shape
        masking: MaskResult = self.masker(patchify(seq, enc.segment_length), noise=noise)
        kept = tokens.gather(1, masking.ids_keep.unsqueeze(-1).expand(b, -1, d))
        latent = enc.encode_tokens(kept)
        pred = self.decoder(latent, masking.ids_restore)
        target = self.target(seq)
        loss = self.loss_fn(pred, target, masking.mask)
        return MaskedOutput(loss=loss, pred=pred, target=target, masking=masking)

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Loss of one batch and the scalars to log (detached 0-d tensors)."""
        out = self.forward_details(batch["x"])
        logs = {
            "loss": out.loss.detach(),
            "mask_ratio": out.masking.mask.float().mean(),
        }
        return out.loss, logs

    @property
    def downstream_encoder(self) -> str:
        """Attribute path of the encoder that evaluation, embedding and export use.

        ``encoder`` unless the target names a submodule of its own (Skeleton2vec's EMA
        teacher: ``target.teacher``) through a ``downstream_encoder`` attribute.
        """
        name = getattr(self.target, "downstream_encoder", None)
        return f"target.{name}" if name else "encoder"

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        """Forward the engine's after-step hook to stateful parts (an EMA teacher target)."""
        for part in (self.target, self.masker, self.loss_fn):
            hook = getattr(part, "after_optimizer_step", None)
            if callable(hook):
                hook(step, total_steps)


def check_encoder(encoder: object) -> None:
    """Raise :class:`ConfigError` if ``encoder`` lacks what the masked method needs."""
    missing = [name for name in ENCODER_API if not hasattr(encoder, name)]
    if missing:
        raise ConfigError(
            f"encoder {type(encoder).__name__} can not be used by method 'masked' "
            f"(it lacks {', '.join(missing)}); choose a token encoder such as "
            "encoder.name=transformer"
        )


def build_masked_method(
    *,
    encoder: nn.Module,
    masker: Any,
    target: Any,
    loss: Any,
    decoder_dim: int = 256,
    decoder_depth: int = 3,
    decoder_heads: int = 8,
    decoder_mlp_ratio: float = 4.0,
    decoder_norm_eps: float = 1e-5,
    decoder_layer_scale: float = 0.0,
    decoder_fused_qkv: bool = True,
    decoder_init: str = "xavier",
) -> MaskedMethod:
    """Factory of the ``masked`` method (defaults: MAMP's NTU-60 decoder).

    ``encoder``, ``masker``, ``target`` and ``loss`` are built from their own config
    sections and passed in.

    Args:
        decoder_dim: decoder token width.
        decoder_depth: decoder blocks (3 MAMP NTU-60, 5 NTU-120 / PKU).
        decoder_heads: decoder attention heads.
        decoder_mlp_ratio: decoder MLP hidden width / ``decoder_dim``.
        decoder_norm_eps: decoder LayerNorm epsilon.
        decoder_layer_scale: decoder LayerScale init; 0 disables it.
        decoder_fused_qkv: one ``qkv`` Linear or separate ``q``/``k``/``v``.
        decoder_init: ``xavier`` or ``trunc_normal``.
    """
    for key, value in (
        ("decoder_dim", decoder_dim),
        ("decoder_depth", decoder_depth),
        ("decoder_heads", decoder_heads),
    ):
        if value < 1:
            raise ConfigError(f"method.{key} must be >= 1, got {value}")
    if decoder_dim % decoder_heads:
        raise ConfigError(
            f"method.decoder_dim={decoder_dim} must be divisible by "
            f"method.decoder_heads={decoder_heads}"
        )
    settings = DecoderSettings(
        dim=decoder_dim,
        depth=decoder_depth,
        num_heads=decoder_heads,
        mlp_ratio=decoder_mlp_ratio,
        norm_eps=decoder_norm_eps,
        layer_scale=decoder_layer_scale,
        fused_qkv=decoder_fused_qkv,
        init=decoder_init,
    )
    return MaskedMethod(encoder=encoder, masker=masker, target=target, loss=loss, decoder=settings)
