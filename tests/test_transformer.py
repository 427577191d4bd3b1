"""The skeleton transformer encoder and its blocks."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from skelkit.errors import ConfigError
from skelkit.nn.decoder import MaskedDecoder
from skelkit.nn.transformer import (
    Attention,
    Block,
    DropPath,
    SkeletonTransformer,
    build_transformer,
)
from skelkit.registry import get_registries


def small(**kw: object) -> SkeletonTransformer:
    args: dict[str, object] = {"num_frames": 16, "dim": 32, "depth": 2, "num_heads": 4}
    args.update(kw)
    return build_transformer(**args)  # type: ignore[arg-type]


def test_output_contract() -> None:
    enc = small().eval()
    x = torch.randn(3, 3, 16, 25, 2)
    feats = enc(x)
    assert feats.shape == (3, 2, 4, 25, 32)
    assert enc.feature_dim == 32
    assert enc.num_tokens == 100
    pooled = enc.pool(feats)
    torch.testing.assert_close(pooled, feats.mean(dim=(1, 2, 3)))
    assert pooled.shape == (3, 32)


def test_official_parameter_names_and_count() -> None:
    enc = build_transformer()
    names = set(enc.state_dict())
    expected = {"temp_embed", "pos_embed", "joints_embed.proj.weight", "joints_embed.proj.bias"}
    expected |= {"norm.weight", "norm.bias"}
    for i in range(8):
        for part in ("norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2"):
            expected |= {f"blocks.{i}.{part}.weight", f"blocks.{i}.{part}.bias"}
    assert names == expected
    assert len(names) == 102
    assert enc.state_dict()["temp_embed"].shape == (1, 30, 1, 256)
    assert enc.state_dict()["pos_embed"].shape == (1, 1, 25, 256)
    assert enc.state_dict()["joints_embed.proj.weight"].shape == (256, 3, 4, 1)
    assert sum(p.numel() for p in enc.parameters()) == 6_336_000


def test_segment_embedding_equals_the_conv() -> None:
    enc = small()
    seq = torch.randn(2, 3, 16, 25)
    conv = F.conv2d(seq, enc.joints_embed.proj.weight, enc.joints_embed.proj.bias, stride=(4, 1))
    torch.testing.assert_close(enc.joints_embed(seq), conv.permute(0, 2, 3, 1))


def test_attention_matches_explicit_softmax_and_separate_qkv() -> None:
    torch.manual_seed(0)
    fused = Attention(32, 4).eval()
    x = torch.randn(2, 7, 32)
    q, k, v = (t.view(2, 7, 4, 8).transpose(1, 2) for t in fused.qkv(x).split(32, dim=-1))
    attn = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1)
    ref = fused.proj((attn @ v).transpose(1, 2).reshape(2, 7, 32))
    torch.testing.assert_close(fused(x), ref, atol=1e-6, rtol=1e-5)
    separate = Attention(32, 4, fused_qkv=False).eval()
    assert not hasattr(separate, "qkv")
    with torch.no_grad():
        for i, name in enumerate("qkv"):
            getattr(separate, name).weight.copy_(fused.qkv.weight[32 * i : 32 * (i + 1)])
            getattr(separate, name).bias.copy_(fused.qkv.bias[32 * i : 32 * (i + 1)])
        separate.proj.load_state_dict(fused.proj.state_dict())
    torch.testing.assert_close(separate(x), fused(x), atol=1e-6, rtol=1e-5)


def test_layer_scale_eps_and_skeleton2vec_geometry() -> None:
    enc = small(
        num_frames=18, segment_length=3, layer_scale=1e-4, norm_eps=1e-6, fused_qkv=False,
        init="trunc_normal",
    )  # fmt: skip
    blk = enc.blocks[0]
    assert isinstance(blk, Block)
    assert blk.gamma_1 is not None
    assert blk.gamma_2 is not None
    assert torch.all(blk.gamma_1 == 1e-4)
    assert "blocks.0.gamma_2" in enc.state_dict()
    assert "blocks.0.attn.q.weight" in enc.state_dict()
    assert blk.norm1.eps == 1e-6
    assert enc.norm.eps == 1e-6
    assert enc.joints_embed.proj.weight.shape == (32, 3, 3, 1)
    assert enc.joints_embed.proj.weight.abs().max() <= 2.0
    assert enc(torch.randn(1, 3, 18, 25, 2)).shape == (1, 2, 6, 25, 32)
    # LayerScale 1e-4 keeps every block close to the identity
    tokens = torch.randn(2, 5, 32)
    assert (blk(tokens) - tokens).abs().max() < 1e-2


def test_xavier_init_like_the_reference() -> None:
    enc = small()
    fc1 = enc.blocks[0].mlp.fc1
    bound = math.sqrt(6.0 / (fc1.in_features + fc1.out_features))
    assert fc1.weight.abs().max() <= bound
    assert torch.all(fc1.bias == 0)
    assert torch.all(enc.norm.weight == 1)
    assert torch.all(enc.norm.bias == 0)
    assert 0.01 < float(enc.pos_embed.detach().std()) < 0.03


def test_persons_are_independent_sequences() -> None:
    enc = small().eval()
    x = torch.randn(2, 3, 16, 25, 2)
    y = x.clone()
    y[:, :, :, :, 1] = torch.randn_like(y[:, :, :, :, 1])
    a, b = enc(x), enc(y)
    torch.testing.assert_close(a[:, 0], b[:, 0])
    assert not torch.allclose(a[:, 1], b[:, 1])


def test_kept_token_path_and_hidden_states() -> None:
    enc = small().eval()
    seq = enc.to_sequences(torch.randn(2, 3, 16, 25, 2))
    tokens = enc.embed(seq)
    hidden: list[torch.Tensor] = []
    full = enc.encode_tokens(tokens, hidden)
    assert len(hidden) == 2
    assert hidden[-1].shape == tokens.shape
    torch.testing.assert_close(enc.norm(hidden[-1]), full)
    # a subset of tokens is encoded on its own (no attention to the others)
    part = enc.encode_tokens(tokens[:, :10])
    assert part.shape == (4, 10, 32)
    assert not torch.allclose(part, full[:, :10])


def test_drop_path_is_random_in_training_only() -> None:
    enc = small(drop_path=0.5)
    assert isinstance(enc.blocks[1].drop_path, DropPath)
    assert not isinstance(enc.blocks[0].drop_path, DropPath)  # linspace starts at 0
    x = torch.randn(4, 3, 16, 25, 2)
    enc.train()
    torch.manual_seed(0)
    a = enc(x)
    torch.manual_seed(1)
    b = enc(x)
    assert not torch.allclose(a, b)
    enc.eval()
    torch.testing.assert_close(enc(x), enc(x))


def test_bad_shapes_and_values_are_config_errors() -> None:
    enc = small()
    with pytest.raises(ConfigError, match="num_frames=16"):
        enc(torch.randn(1, 3, 20, 25, 2))
    with pytest.raises(ConfigError, match="multiple of"):
        build_transformer(num_frames=10, segment_length=4)
    with pytest.raises(
        ConfigError, match=r"encoder\.dim=30 must be divisible by encoder\.num_heads=4"
    ):
        build_transformer(dim=30, num_heads=4, depth=1)
    with pytest.raises(ConfigError, match="init"):
        build_transformer(dim=32, depth=1, init="kaiming")


def test_registered_and_built_from_config() -> None:
    enc = get_registries().build(
        "encoder", {"name": "transformer", "dim": 32, "depth": 1, "num_heads": 2}
    )
    assert isinstance(enc, SkeletonTransformer)
    assert enc.num_frames == 120


def test_decoder_restores_grid_order() -> None:
    torch.manual_seed(0)
    dec = MaskedDecoder(in_dim=16, out_dim=12, num_segments=2, num_joints=3, dim=16, depth=1,
                        num_heads=2).eval()  # fmt: skip
    latent = torch.randn(1, 2, 16)
    ids_restore = torch.tensor([[2, 0, 3, 4, 1, 5]])  # kept tokens land at positions 1 and 4
    out = dec(latent, ids_restore)
    assert out.shape == (1, 6, 12)
    with torch.no_grad():
        emb = dec.embed(latent)
        grid = dec.mask_token.expand(1, 6, 16).clone()
        grid[0, 1], grid[0, 4] = emb[0, 0], emb[0, 1]
        grid = (grid.view(1, 2, 3, 16) + dec.pos_embed + dec.temp_embed).view(1, 6, 16)
        for blk in dec.blocks:
            grid = blk(grid)
        ref = dec.pred(dec.norm(grid))
    torch.testing.assert_close(out.detach(), ref)
