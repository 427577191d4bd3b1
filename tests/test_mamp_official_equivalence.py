"""Official MAMP checkpoints: import them and reproduce the official forward pass.

Each test writes a checkpoint in the official format (random weights under the official
key names, an AdamW state, a GradScaler state and a pickled ``argparse.Namespace`` under
``args``), imports it, and compares skelkit against an independent re-derivation of the
official model written here in plain functional torch (no skelkit module is used by it):
(a) encoder features, (b) the pretraining loss for the same masking noise.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor
from typer.testing import CliRunner

from skelkit.cli.app import app
from skelkit.errors import DataError
from skelkit.methods.build import build_method
from skelkit.registry import get_registries
from skelkit.train.checkpoint import load_checkpoint, load_encoder

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

# -- an official checkpoint -----------------------------------------------------------


def block_state(prefix: str, dim: int, gen: torch.Generator) -> dict[str, Tensor]:
    def rnd(*shape: int, std: float = 0.05) -> Tensor:
        return torch.randn(*shape, generator=gen) * std

    hidden = 4 * dim
    return {
        f"{prefix}norm1.weight": 1 + rnd(dim, std=0.1),
        f"{prefix}norm1.bias": rnd(dim),
        f"{prefix}attn.qkv.weight": rnd(3 * dim, dim, std=1 / math.sqrt(dim)),
        f"{prefix}attn.qkv.bias": rnd(3 * dim),
        f"{prefix}attn.proj.weight": rnd(dim, dim, std=1 / math.sqrt(dim)),
        f"{prefix}attn.proj.bias": rnd(dim),
        f"{prefix}norm2.weight": 1 + rnd(dim, std=0.1),
        f"{prefix}norm2.bias": rnd(dim),
        f"{prefix}mlp.fc1.weight": rnd(hidden, dim, std=1 / math.sqrt(dim)),
        f"{prefix}mlp.fc1.bias": rnd(hidden),
        f"{prefix}mlp.fc2.weight": rnd(dim, hidden, std=1 / math.sqrt(hidden)),
        f"{prefix}mlp.fc2.bias": rnd(dim),
    }


def official_state(
    dim: int, depth: int, decoder_depth: int, frames: int, seed: int = 0, head: bool = False
) -> dict[str, Tensor]:
    """Random weights under the official ``model_mamp.transformer.Transformer`` keys."""
    gen = torch.Generator().manual_seed(seed)
    tp = frames // 4
    sd: dict[str, Tensor] = {
        "temp_embed": torch.randn(1, tp, 1, dim, generator=gen) * 0.02,
        "pos_embed": torch.randn(1, 1, 25, dim, generator=gen) * 0.02,
        "joints_embed.proj.weight": torch.randn(dim, 3, 4, 1, generator=gen) * 0.3,
        "joints_embed.proj.bias": torch.randn(dim, generator=gen) * 0.1,
    }
    for i in range(depth):
        sd.update(block_state(f"blocks.{i}.", dim, gen))
    sd["norm.weight"] = 1 + torch.randn(dim, generator=gen) * 0.1
    sd["norm.bias"] = torch.randn(dim, generator=gen) * 0.05
    if decoder_depth:
        sd["mask_token"] = torch.randn(1, 1, dim, generator=gen) * 0.02
        sd["decoder_embed.weight"] = torch.randn(dim, dim, generator=gen) / math.sqrt(dim)
        sd["decoder_embed.bias"] = torch.randn(dim, generator=gen) * 0.05
        for i in range(decoder_depth):
            sd.update(block_state(f"decoder_blocks.{i}.", dim, gen))
        sd["decoder_norm.weight"] = 1 + torch.randn(dim, generator=gen) * 0.1
        sd["decoder_norm.bias"] = torch.randn(dim, generator=gen) * 0.05
        sd["decoder_temp_embed"] = torch.randn(1, tp, 1, dim, generator=gen) * 0.02
        sd["decoder_pos_embed"] = torch.randn(1, 1, 25, dim, generator=gen) * 0.02
        sd["decoder_pred.weight"] = torch.randn(12, dim, generator=gen) / math.sqrt(dim)
        sd["decoder_pred.bias"] = torch.randn(12, generator=gen) * 0.05
    if head:
        sd["head.fc.weight"] = torch.randn(60, dim, generator=gen)
        sd["head.fc.bias"] = torch.zeros(60)
    return sd


def official_args(
    dim: int, depth: int, decoder_depth: int, frames: int, tau: float, mae: bool = False
) -> argparse.Namespace:
    """The ``args`` namespace ``main_pretrain.py`` pickles into every checkpoint."""
    return argparse.Namespace(
        config="./config/ntu60_xsub_joint/pretrain_mamp_t120_layer8+3_mask90.yaml",
        batch_size=32,
        epochs=400,
        model=f"{'model_mae' if mae else 'model_mamp'}.transformer.Transformer",
        model_args={
            "dim_in": 3,
            "dim_feat": dim,
            "decoder_dim_feat": dim,
            "depth": depth,
            "decoder_depth": decoder_depth,
            "num_heads": 8,
            "mlp_ratio": 4,
            "num_frames": frames,
            "num_joints": 25,
            "patch_size": 1,
            "t_patch_size": 4,
            "qkv_bias": True,
            "qk_scale": "None",
            "norm_skes_loss": True,
        },
        mask_ratio=0.9,
        motion_stride=1,
        motion_aware_tau=tau,
        lr=1e-3,
        min_lr=5e-4,
        train_feeder_args={"data_path": "data/ntu/NTU60_XSub.npz", "window_size": frames},
        output_dir="./output_dir/ntu60_xsub/pretrain_mamp",
        distributed=True,
        seed=0,
    )


def write_official(path: Path, sd: dict[str, Tensor], args: Any, epoch: int = 399) -> None:
    """Save like the official ``util/misc.py::save_model``."""
    params = [torch.nn.Parameter(v.clone()) for v in list(sd.values())[:3]]
    opt = torch.optim.AdamW(params, lr=1e-3, betas=(0.9, 0.95))
    sum(p.sum() for p in params).backward()  # type: ignore[union-attr]
    opt.step()
    scaler = {"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5,
              "growth_interval": 2000, "_growth_tracker": 17}  # fmt: skip
    payload = {
        "model": sd,
        "optimizer": opt.state_dict(),
        "epoch": epoch,
        "scaler": scaler,
        "args": args,
    }
    torch.save(payload, path)


# -- independent re-derivation of the official forward pass -----------------------------


def ref_block(sd: dict[str, Tensor], p: str, x: Tensor, heads: int) -> Tensor:
    b, n, d = x.shape
    hd = d // heads
    h = F.layer_norm(x, (d,), sd[p + "norm1.weight"], sd[p + "norm1.bias"], 1e-5)
    qkv = h @ sd[p + "attn.qkv.weight"].t() + sd[p + "attn.qkv.bias"]
    q, k, v = (t.reshape(b, n, heads, hd).transpose(1, 2) for t in qkv.split(d, dim=-1))
    attn = torch.softmax((q @ k.transpose(-2, -1)) * hd**-0.5, dim=-1)
    a = (attn @ v).transpose(1, 2).reshape(b, n, d)
    x = x + a @ sd[p + "attn.proj.weight"].t() + sd[p + "attn.proj.bias"]
    h = F.layer_norm(x, (d,), sd[p + "norm2.weight"], sd[p + "norm2.bias"], 1e-5)
    h = F.gelu(h @ sd[p + "mlp.fc1.weight"].t() + sd[p + "mlp.fc1.bias"])
    return x + h @ sd[p + "mlp.fc2.weight"].t() + sd[p + "mlp.fc2.bias"]


def ref_tokens(sd: dict[str, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Person sequences ``(NM, T, V, C)`` and embedded tokens ``(NM, TP*V, D)``."""
    n, c, t, v, m = x.shape
    seq = x.permute(0, 4, 2, 3, 1).reshape(n * m, t, v, c)
    emb = F.conv2d(
        seq.permute(0, 3, 1, 2),
        sd["joints_embed.proj.weight"],
        sd["joints_embed.proj.bias"],
        stride=(4, 1),
    ).permute(0, 2, 3, 1)
    emb = emb + sd["pos_embed"] + sd["temp_embed"]
    return seq, emb.reshape(n * m, -1, emb.shape[-1])


def ref_encode(sd: dict[str, Tensor], tokens: Tensor, depth: int) -> Tensor:
    for i in range(depth):
        tokens = ref_block(sd, f"blocks.{i}.", tokens, 8)
    d = tokens.shape[-1]
    return F.layer_norm(tokens, (d,), sd["norm.weight"], sd["norm.bias"], 1e-5)


def ref_features(sd: dict[str, Tensor], x: Tensor, depth: int) -> Tensor:
    n, m = x.shape[0], x.shape[-1]
    _, tokens = ref_tokens(sd, x)
    out = ref_encode(sd, tokens, depth)
    return out.reshape(n, m, x.shape[2] // 4, 25, -1)


def ref_patchify(seq: Tensor) -> Tensor:
    nm, t, v, c = seq.shape
    return seq.reshape(nm, t // 4, 4, v, c).permute(0, 1, 3, 2, 4).reshape(nm, t // 4, v, 4 * c)


def ref_pretrain_loss(
    sd: dict[str, Tensor],
    x: Tensor,
    u: Tensor,
    depth: int,
    decoder_depth: int,
    tau: float,
    ratio: float = 0.9,
) -> tuple[Tensor, Tensor]:
    """The official MAMP (``tau > 0``) or MAE (``tau == 0``) pretraining loss and mask."""
    seq, tokens = ref_tokens(sd, x)
    nm, length, d = tokens.shape
    keep = int(length * (1 - ratio))
    patches = ref_patchify(seq)
    if tau > 0:
        motion = torch.zeros_like(patches)
        motion[:, 1:] = (patches[:, 1:] - patches[:, :-1]).abs()
        motion[:, 0] = motion[:, 1]
        motion = motion.mean(dim=3).reshape(nm, length)
        motion = motion / (motion.max(dim=-1, keepdim=True).values * tau + 1e-10)
        noise = torch.log(torch.softmax(motion, dim=-1)) - torch.log(-torch.log(u + 1e-10) + 1e-10)
    else:
        noise = u
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    kept = torch.gather(tokens, 1, ids_shuffle[:, :keep, None].repeat(1, 1, d))
    latent = ref_encode(sd, kept, depth)
    mask = torch.ones(nm, length)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    # decoder
    y = latent @ sd["decoder_embed.weight"].t() + sd["decoder_embed.bias"]
    y = torch.cat([y, sd["mask_token"].repeat(nm, length - keep, 1)], dim=1)
    y = torch.gather(y, 1, ids_restore[:, :, None].repeat(1, 1, d))
    y = y.view(nm, -1, 25, d) + sd["decoder_pos_embed"] + sd["decoder_temp_embed"]
    y = y.reshape(nm, length, d)
    for i in range(decoder_depth):
        y = ref_block(sd, f"decoder_blocks.{i}.", y, 8)
    y = F.layer_norm(y, (d,), sd["decoder_norm.weight"], sd["decoder_norm.bias"], 1e-5)
    pred = y @ sd["decoder_pred.weight"].t() + sd["decoder_pred.bias"]
    # target
    if tau > 0:
        values = torch.zeros_like(seq)
        values[:, :-1] = seq[:, 1:] - seq[:, :-1]
    else:
        values = seq
    target = ref_patchify(values).reshape(nm, length, -1)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1e-6) ** 0.5
    loss = ((pred - target) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum(), mask


def skeleton_batch(n: int, frames: int, seed: int = 1, empty_second: bool = True) -> Tensor:
    """Smooth random skeletons ``(N, 3, T, 25, 2)``; sample 0's second person is empty."""
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 3, 1, 25, 2, generator=gen) * 0.4
    drift = torch.randn(n, 3, frames, 25, 2, generator=gen).cumsum(dim=2) * 0.01
    x = base + drift
    if empty_second:
        x[0, :, :, :, 1] = 0
    return x.float()


# -- tests -----------------------------------------------------------------------------


def import_official(tmp_path: Path, **kw: Any) -> tuple[dict[str, Tensor], dict[str, Any]]:
    dim, depth, dec, frames = kw["dim"], kw["depth"], kw["decoder_depth"], kw["frames"]
    sd = official_state(dim, depth, dec, frames, head=kw.get("head", False))
    args = official_args(dim, depth, dec, frames, kw.get("tau", 0.8), kw.get("mae", False))
    path = tmp_path / "checkpoint-399.pth"
    write_official(path, sd, args)
    importer = get_registries().get("importers", "mamp").spec.load()
    return sd, importer(path)


@pytest.mark.parametrize(
    ("dim", "depth", "decoder_depth", "frames", "tau", "mae"),
    [
        pytest.param(256, 8, 3, 120, 0.8, False, id="official-size-ntu60"),
        pytest.param(64, 2, 2, 40, 0.75, False, id="small-tau0.75"),
        pytest.param(64, 2, 1, 40, 0.0, True, id="small-mae-baseline"),
    ],
)
def test_imported_checkpoint_matches_official_forward(
    tmp_path: Path, dim: int, depth: int, decoder_depth: int, frames: int, tau: float, mae: bool
) -> None:
    sd, ckpt = import_official(
        tmp_path, dim=dim, depth=depth, decoder_depth=decoder_depth, frames=frames, tau=tau,
        mae=mae,
    )  # fmt: skip
    cfg = ckpt["config"]
    assert cfg["encoder"]["depth"] == depth
    assert cfg["encoder"]["num_frames"] == frames
    assert cfg["method"]["decoder_depth"] == decoder_depth
    assert cfg["masker"]["name"] == ("random" if mae else "motion_aware")
    assert cfg["target"]["name"] == ("coords" if mae else "motion")
    assert ckpt["epoch"] == 400
    assert ckpt["dataset"] == "ntu60"
    method = build_method(cfg)
    method.load_state_dict(ckpt["model"])  # strict: every key maps one to one
    method.eval()
    x = skeleton_batch(2, frames)
    with torch.no_grad():
        # (a) encoder features
        ours = method.encoder(x)
        ref = ref_features(sd, x, depth)
        assert ours.shape == (2, 2, frames // 4, 25, dim)
        torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
        # (b) the pretraining loss with the same masking noise
        u = torch.rand(4, frames // 4 * 25, generator=torch.Generator().manual_seed(3))
        out = method.forward_details(x, noise=u)
        ref_loss, ref_mask = ref_pretrain_loss(sd, x, u, depth, decoder_depth, tau)
    assert torch.equal(out.masking.mask, ref_mask.bool())
    assert int((~out.masking.mask[0]).sum()) == int(frames // 4 * 25 * (1 - 0.9))
    torch.testing.assert_close(out.loss, ref_loss, atol=1e-5, rtol=0)


def test_official_size_keeps_74_of_750_tokens(tmp_path: Path) -> None:
    _, ckpt = import_official(tmp_path, dim=32, depth=1, decoder_depth=1, frames=120)
    method = build_method({**ckpt["config"], "encoder": {**ckpt["config"]["encoder"]}})
    method.load_state_dict(ckpt["model"])
    out = method.forward_details(skeleton_batch(1, 120))
    assert out.masking.mask.shape == (2, 750)
    assert (~out.masking.mask).sum(dim=1).tolist() == [74, 74]


def test_cli_import_then_load_encoder(tmp_path: Path) -> None:
    dim, depth, frames = 32, 2, 40
    sd = official_state(dim, depth, 0, frames, head=True)  # a downstream (linear) checkpoint
    src = tmp_path / "linear.pth"
    write_official(src, sd, official_args(dim, depth, 0, frames, 0.8))
    out = tmp_path / "imported.pt"
    result = CliRunner().invoke(
        app, ["import-weights", "mamp", str(src), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"weights": "encoder"' in result.stdout
    ckpt = load_checkpoint(out)
    assert ckpt["skelkit"]["kind"] == "imported"
    assert "mamp" in ckpt["config"]["plugins"]
    assert not any(k.startswith("head.") or k.startswith("decoder.") for k in ckpt["model"])
    encoder = load_encoder(out)
    x = skeleton_batch(2, frames)
    with torch.no_grad():
        torch.testing.assert_close(encoder(x), ref_features(sd, x, depth), atol=1e-5, rtol=0)


class Exploit:
    """Pickles to a call of ``os.mkdir`` (stands for any code a malicious file could run)."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.mkdir, (str(self.target),))


def test_malicious_pickle_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    sd = official_state(32, 1, 1, 40)
    src = tmp_path / "evil.pth"
    torch.save({"model": sd, "epoch": 3, "args": Exploit(marker)}, src)
    importer = get_registries().get("importers", "mamp").spec.load()
    with pytest.raises(DataError, match="never executes pickled code"):
        importer(src)
    assert not marker.exists()
    result = CliRunner().invoke(
        app, ["import-weights", "mamp", str(src), "--out", str(tmp_path / "o.pt")]
    )
    assert result.exit_code == 2
    assert not marker.exists()
    assert not (tmp_path / "o.pt").exists()


def test_bad_files_are_data_errors(tmp_path: Path) -> None:
    importer = get_registries().get("importers", "mamp").spec.load()
    with pytest.raises(DataError, match="does not exist"):
        importer(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="can not be read"):
        importer(junk)
    other = tmp_path / "other.pth"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, other)
    with pytest.raises(DataError, match="not a MAMP transformer checkpoint"):
        importer(other)


def test_weights_that_do_not_fit_are_data_errors(tmp_path: Path) -> None:
    importer = get_registries().get("importers", "mamp").spec.load()
    args = official_args(32, 2, 1, 40, 0.8)
    broken = official_state(32, 2, 1, 40)
    broken["blocks.1.attn.qkv.weight"] = torch.zeros(96, 16)
    write_official(tmp_path / "shape.pth", broken, args)
    with pytest.raises(
        DataError, match=r"do not fit.*size mismatch for encoder\.blocks\.1\.attn\.qkv"
    ):
        importer(tmp_path / "shape.pth")
    partial = official_state(32, 2, 1, 40)
    del partial["decoder_blocks.0.norm2.bias"]
    write_official(tmp_path / "partial.pth", partial, args)
    with pytest.raises(DataError, match=r"Missing key.*decoder\.blocks\.0\.norm2\.bias"):
        importer(tmp_path / "partial.pth")
