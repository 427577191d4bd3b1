"""The MAE-style decoder of the masked method.

It embeds the encoder's kept tokens, fills the hidden positions with a learned mask token,
restores the token grid, adds its own temporal and joint position embeddings, and runs
transformer blocks, a LayerNorm and a linear prediction to the target width.

Parameter names map one to one to the MAMP reference's pretraining keys:
``decoder_embed -> embed``, ``mask_token``, ``decoder_temp_embed -> temp_embed``,
``decoder_pos_embed -> pos_embed``, ``decoder_blocks -> blocks``, ``decoder_norm -> norm``,
``decoder_pred -> pred``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from skelkit.nn.transformer import init_weights, make_blocks, trunc_normal_


class MaskedDecoder(nn.Module):
    """Predict a target for every token from the encoded kept tokens."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        num_segments: int,
        num_joints: int,
        dim: int = 256,
        depth: int = 3,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        fused_qkv: bool = True,
        norm_eps: float = 1e-5,
        layer_scale: float = 0.0,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        self.num_segments = num_segments
        self.num_joints = num_joints
        self.dim = dim
        self.embed = nn.Linear(in_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, num_segments, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
        self.blocks = make_blocks(
            depth, dim, num_heads, mlp_ratio, qkv_bias, fused_qkv, norm_eps, layer_scale
        )
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        self.pred = nn.Linear(dim, out_dim)
        for p in (self.mask_token, self.temp_embed, self.pos_embed):
            trunc_normal_(p)
        init_weights(self, init)

    def forward(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """Decode ``latent (B, K, D_enc)`` into predictions ``(B, L, out_dim)``.

        ``ids_restore (B, L)`` indexes the sequence ``[kept tokens, mask tokens]`` so that
        gathering it yields the tokens in grid order (the masker's contract).
        """
        b, k, _ = latent.shape
        length = self.num_segments * self.num_joints
        x = self.embed(latent)
        x = torch.cat([x, self.mask_token.expand(b, length - k, self.dim)], dim=1)
        x = x.gather(1, ids_restore.unsqueeze(-1).expand(b, length, self.dim))
        x = x.view(b, self.num_segments, self.num_joints, self.dim)
        x = (x + self.pos_embed + self.temp_embed).view(b, length, self.dim)
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))
