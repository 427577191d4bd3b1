"""The skeleton transformer: segment embedding, pre-norm blocks and the encoder.

Tokens are per-joint temporal segments: each joint's ``segment_length`` consecutive frames
of xyz are embedded by one ``Conv2d`` (kernel = stride = ``(segment_length, 1)``), giving a
grid of ``T' = num_frames / segment_length`` by ``V`` tokens, flattened time-major
(``l = t * V + v``). Every person is an independent sequence. Parameter names equal the
MAMP reference encoder's state-dict keys (``temp_embed``, ``pos_embed``,
``joints_embed.proj.*``, ``blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}``,
``norm``), so its weights load without renaming.

This module imports torch; it is only loaded by component factories.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from skelkit.errors import ConfigError

INITS = ("xavier", "trunc_normal")


def trunc_normal_(tensor: Tensor, std: float = 0.02) -> Tensor:
    """Fill ``tensor`` from N(0, std²) truncated at ±2 absolute (not ±2 std)."""
    return nn.init.trunc_normal_(tensor, mean=0.0, std=std, a=-2.0, b=2.0)


class DropPath(nn.Module):
    """Stochastic depth: drop a residual branch per sample with probability ``p``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: Tensor) -> Tensor:
        """Scale kept samples by ``1 / (1 - p)`` and zero the dropped ones (training only)."""
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Mlp(nn.Module):
    """``fc1 -> exact GELU -> dropout -> fc2 -> dropout``."""

    def __init__(self, dim: int, hidden: int, drop: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the two-layer perceptron to the last dimension."""
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Attention(nn.Module):
    """Multi-head self-attention over ``(B, L, D)`` with scale ``head_dim ** -0.5``.

    ``fused_qkv=True`` has one ``qkv`` Linear (MAMP); ``False`` has separate ``q``, ``k`` and
    ``v`` Linears (Skeleton2vec). The product runs in
    :func:`torch.nn.functional.scaled_dot_product_attention`.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        fused_qkv: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
    ) -> None:
        super().__init__()
        if dim % num_heads:
            raise ConfigError(f"width {dim} must be divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.fused_qkv = fused_qkv
        if fused_qkv:
            self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        else:
            self.q = nn.Linear(dim, dim, bias=qkv_bias)
            self.k = nn.Linear(dim, dim, bias=qkv_bias)
            self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.attn_drop = float(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: Tensor) -> Tensor:
        """Attend over the tokens of each sequence; no mask, no bias."""
        b, n, d = x.shape
        h = self.num_heads
        if self.fused_qkv:
            qkv = self.qkv(x).view(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
        else:
            q = self.q(x).view(b, n, h, d // h).transpose(1, 2)
            k = self.k(x).view(b, n, h, d // h).transpose(1, 2)
            v = self.v(x).view(b, n, h, d // h).transpose(1, 2)
        drop = self.attn_drop if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(b, n, d)))


class Block(nn.Module):
    """Pre-norm transformer block with optional LayerScale (``gamma_1``, ``gamma_2``)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        fused_qkv: bool = True,
        norm_eps: float = 1e-5,
        layer_scale: float = 0.0,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, fused_qkv, attn_drop, drop)
        self.drop_path: nn.Module = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop)
        self.gamma_1: nn.Parameter | None = None
        self.gamma_2: nn.Parameter | None = None
        if layer_scale > 0:
            self.gamma_1 = nn.Parameter(torch.full((dim,), float(layer_scale)))
            self.gamma_2 = nn.Parameter(torch.full((dim,), float(layer_scale)))

    def forward(self, x: Tensor) -> Tensor:
        """``x + drop_path(attn(norm1(x)))`` then ``x + drop_path(mlp(norm2(x)))``."""
        a = self.attn(self.norm1(x))
        if self.gamma_1 is not None:
            a = a * self.gamma_1
        x = x + self.drop_path(a)
        m = self.mlp(self.norm2(x))
        if self.gamma_2 is not None:
            m = m * self.gamma_2
        return x + self.drop_path(m)


def make_blocks(
    depth: int,
    dim: int,
    num_heads: int,
    mlp_ratio: float = 4.0,
    qkv_bias: bool = True,
    fused_qkv: bool = True,
    norm_eps: float = 1e-5,
    layer_scale: float = 0.0,
    drop: float = 0.0,
    attn_drop: float = 0.0,
    drop_path: float = 0.0,
) -> nn.ModuleList:
    """Build ``depth`` blocks with drop-path rates ``linspace(0, drop_path, depth)``."""
    rates = torch.linspace(0, drop_path, depth).tolist() if depth else []
    return nn.ModuleList(
        Block(
            dim,
            num_heads,
            mlp_ratio,
            qkv_bias,
            fused_qkv,
            norm_eps,
            layer_scale,
            drop,
            attn_drop,
            rate,
        )
        for rate in rates
    )


def init_weights(module: nn.Module, scheme: str) -> None:
    """Initialise Linear (and, for ``trunc_normal``, Conv2d) weights and LayerNorms.

    ``xavier`` (MAMP): Linear xavier-uniform, bias 0; Conv2d keeps PyTorch's default.
    ``trunc_normal`` (Skeleton2vec): Linear and Conv2d trunc-normal std 0.02, bias 0.
    LayerNorm: weight 1, bias 0 in both.
    """
    if scheme not in INITS:
        raise ConfigError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    for m in module.modules():
        if isinstance(m, nn.Linear):
            if scheme == "xavier":
                nn.init.xavier_uniform_(m.weight)
            else:
                trunc_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Conv2d) and scheme == "trunc_normal":
            trunc_normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class SegmentEmbed(nn.Module):
    """Linear embedding of every joint's ``segment_length``-frame xyz segment.

    Stored as a ``Conv2d`` named ``proj`` (the reference layout) and computed as one matrix
    product over the patchified input, which is the same map and faster.
    """

    def __init__(self, in_channels: int, dim: int, segment_length: int) -> None:
        super().__init__()
        self.segment_length = segment_length
        kernel = (segment_length, 1)
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=kernel, stride=kernel)

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(B, C, T, V)`` to ``(B, T', V, D)``."""
        b, c, t, v = x.shape
        s = self.segment_length
        # (B, C, T', s, V) -> (B, T', V, C, s): the conv weight's (c, u) order.
        seg = x.reshape(b, c, t // s, s, v).permute(0, 2, 4, 1, 3).reshape(b, t // s, v, c * s)
        weight = self.proj.weight.reshape(self.proj.out_channels, c * s)
        return F.linear(seg, weight, self.proj.bias)


class SkeletonTransformer(nn.Module):
    """Transformer encoder over per-joint temporal segments of each person.

    ``forward(x (N, C, T, V, M)) -> (N, M, T', V, D)``; :meth:`pool` averages that to
    ``(N, D)``. The masked method uses :meth:`embed` and :meth:`encode_tokens` to run the
    blocks over the kept tokens only. The defaults are the MAMP encoder.

    Args:
        num_frames: input window ``T`` (120 MAMP, 90 Skeleton2vec).
        num_joints: joints ``V`` per frame.
        in_channels: coordinates per joint.
        segment_length: frames per token (4 MAMP, 3 Skeleton2vec).
        dim: token width.
        depth: number of blocks.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width / ``dim``.
        qkv_bias: bias on the q/k/v projections.
        fused_qkv: one ``qkv`` Linear (MAMP) or separate ``q``/``k``/``v`` (Skeleton2vec).
        norm_eps: LayerNorm epsilon (1e-5 MAMP, 1e-6 Skeleton2vec).
        layer_scale: LayerScale init value; 0 disables it (MAMP), 1e-4 Skeleton2vec.
        drop: dropout after the MLP and the attention projection.
        attn_drop: dropout on the attention weights.
        drop_path: stochastic-depth rate of the last block (linear from 0).
        init: ``xavier`` (MAMP) or ``trunc_normal`` (Skeleton2vec).
    """

    def __init__(
        self,
        num_frames: int = 120,
        num_joints: int = 25,
        in_channels: int = 3,
        segment_length: int = 4,
        dim: int = 256,
        depth: int = 8,
        num_heads: int = 8,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        fused_qkv: bool = True,
        norm_eps: float = 1e-5,
        layer_scale: float = 0.0,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        init: str = "xavier",
    ) -> None:
        super().__init__()
        for key, value in (("dim", dim), ("depth", depth), ("num_heads", num_heads)):
            if value < 1:
                raise ConfigError(f"encoder.{key} must be >= 1, got {value}")
        if dim % num_heads:
            raise ConfigError(
                f"encoder.dim={dim} must be divisible by encoder.num_heads={num_heads}"
            )
        if not math.isfinite(mlp_ratio) or mlp_ratio <= 0:
            raise ConfigError(f"encoder.mlp_ratio must be > 0, got {mlp_ratio}")
        if segment_length < 1 or num_frames % segment_length:
            raise ConfigError(
                f"encoder.num_frames={num_frames} must be a multiple of "
                f"encoder.segment_length={segment_length}"
            )
        self.num_frames = num_frames
        self.num_joints = num_joints
        self.in_channels = in_channels
        self.segment_length = segment_length
        self.num_segments = num_frames // segment_length
        self.dim = dim
        self.joints_embed = SegmentEmbed(in_channels, dim, segment_length)
        self.temp_embed = nn.Parameter(torch.zeros(1, self.num_segments, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
        self.blocks = make_blocks(
            depth,
            dim,
            num_heads,
            mlp_ratio,
            qkv_bias,
            fused_qkv,
            norm_eps,
            layer_scale,
            drop,
            attn_drop,
            drop_path,
        )
        self.norm = nn.LayerNorm(dim, eps=norm_eps)
        trunc_normal_(self.temp_embed)
        trunc_normal_(self.pos_embed)
        init_weights(self, init)

    @property
    def feature_dim(self) -> int:
        """Width ``D`` of every token feature."""
        return self.dim

    @property
    def num_tokens(self) -> int:
        """Tokens per person-sequence, ``T' * V``."""
        return self.num_segments * self.num_joints

    def to_sequences(self, x: Tensor) -> Tensor:
        """``(N, C, T, V, M) -> (N*M, C, T, V)``, persons n-major, m-minor."""
        n, c, t, v, m = x.shape
        if t != self.num_frames or v != self.num_joints or c != self.in_channels:
            raise ConfigError(
                f"input of shape (C={c}, T={t}, V={v}) does not match the encoder "
                f"(in_channels={self.in_channels}, num_frames={self.num_frames}, "
                f"num_joints={self.num_joints}); set the data window and the encoder "
                "section to the same number of frames"
            )
        return x.permute(0, 4, 1, 2, 3).reshape(n * m, c, t, v)

    def embed(self, seq: Tensor) -> Tensor:
        """Embed ``(B, C, T, V)`` into position-encoded tokens ``(B, L, D)``."""
        tokens = self.joints_embed(seq) + self.temp_embed + self.pos_embed
        return tokens.reshape(seq.shape[0], self.num_tokens, self.dim)

    def encode_tokens(self, tokens: Tensor, hidden: list[Tensor] | None = None) -> Tensor:
        """Run the blocks and the final norm over ``(B, K, D)`` tokens (any subset).

        If ``hidden`` is a list, every block's output (before the final norm) is appended.
        """
        for blk in self.blocks:
            tokens = blk(tokens)
            if hidden is not None:
                hidden.append(tokens)
        return self.norm(tokens)

    def forward(self, x: Tensor) -> Tensor:
        """Encode a batch ``(N, C, T, V, M)`` into the token grid ``(N, M, T', V, D)``."""
        n, m = x.shape[0], x.shape[-1]
        out = self.encode_tokens(self.embed(self.to_sequences(x)))
        return out.view(n, m, self.num_segments, self.num_joints, self.dim)

    def pool(self, features: Tensor) -> Tensor:
        """Mean over persons, segments and joints: ``(N, M, T', V, D) -> (N, D)``."""
        return features.mean(dim=(1, 2, 3))


#: Factory of the ``transformer`` encoder (its config keys are the class's parameters).
build_transformer = SkeletonTransformer
