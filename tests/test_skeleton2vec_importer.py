"""The ``skeleton2vec`` importer: the authors' checkpoints, read safely, give their features."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.errors import DataError
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from skelkit_skeleton2vec.importer import import_skeleton2vec_checkpoint

D, HEADS, DEPTH, DEC_DEPTH, T, S, V = 32, 4, 2, 1, 30, 3, 25
runner = CliRunner()


class Payload:
    """A class that a weights-only load must refuse to rebuild."""


def _block(prefix: str, gen: torch.Generator) -> dict[str, torch.Tensor]:
    def r(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=gen) * scale

    out = {
        f"{prefix}norm1.weight": 1 + r(D),
        f"{prefix}norm1.bias": r(D),
        f"{prefix}norm2.weight": 1 + r(D),
        f"{prefix}norm2.bias": r(D),
        f"{prefix}mlp.fc1.weight": r(4 * D, D),
        f"{prefix}mlp.fc1.bias": r(4 * D),
        f"{prefix}mlp.fc2.weight": r(D, 4 * D),
        f"{prefix}mlp.fc2.bias": r(D),
        f"{prefix}gamma_1": r(D, scale=0.5),
        f"{prefix}gamma_2": r(D, scale=0.5),
    }
    for name in ("queries", "keys", "values", "proj"):
        out[f"{prefix}attn.{name}.weight"] = r(D, D)
        out[f"{prefix}attn.{name}.bias"] = r(D)
    return out


def authors_autoencoder(prefix: str, seed: int) -> dict[str, torch.Tensor]:
    """Random weights with the authors' ``SkTWithDecoder`` names and shapes."""
    gen = torch.Generator().manual_seed(seed)
    state = {
        f"{prefix}encoder_embedding.projection.1.weight": torch.randn(D, 3, S, 1, generator=gen),
        f"{prefix}encoder_embedding.projection.1.bias": torch.randn(D, generator=gen),
        f"{prefix}encoder_embedding.spatio_pos_emb": torch.randn(1, D, 1, V, generator=gen),
        f"{prefix}encoder_embedding.temporal_pos_emb": torch.randn(1, D, T // S, 1, generator=gen),
        f"{prefix}encoder_norm.weight": 1 + 0.1 * torch.randn(D, generator=gen),
        f"{prefix}encoder_norm.bias": 0.1 * torch.randn(D, generator=gen),
        f"{prefix}decoder_embedding.weight": torch.randn(D, D, generator=gen),
        f"{prefix}decoder_embedding.bias": torch.randn(D, generator=gen),
        f"{prefix}decoder_norm.weight": torch.ones(D),
        f"{prefix}decoder_norm.bias": torch.zeros(D),
        f"{prefix}decoder_feat_head.weight": torch.randn(D, D, generator=gen),
        f"{prefix}decoder_feat_head.bias": torch.randn(D, generator=gen),
        f"{prefix}decoder_spatio_pos_emb": torch.randn(1, D, 1, V, generator=gen),
        f"{prefix}decoder_temporal_pos_emb": torch.randn(1, D, T // S, 1, generator=gen),
        f"{prefix}mask_token_emb": torch.randn(1, 1, D, generator=gen),
    }
    for i in range(DEPTH):
        state.update(_block(f"{prefix}encoder.layers.{i}.", gen))
    for i in range(DEC_DEPTH):
        state.update(_block(f"{prefix}decoder.layers.{i}.", gen))
    return state


def authors_file(path: Path, state: dict[str, torch.Tensor], name: str = "Skeleton2Vec2") -> Path:
    args: dict[str, Any] = {
        "model_spec": {
            "name": "SkTWithDecoder",
            "args": {
                "temporal_segment_size": S,
                "temporal_size": T,
                "encoder_emb_size": D,
                "encoder_depth": DEPTH,
                "decoder_depth": DEC_DEPTH,
                "num_heads": HEADS,
                "layer_scale_init_value": 1e-4,
                "mask_strategy": "motion",
            },
        },
        "ema_spec": {
            "name": "EMA",
            "args": {"ema_decay": 0.9999, "ema_end_decay": 1.0, "ema_anneal_end_step": 251200},
        },
        "average_top_k_layers": DEPTH,
        "norm_target_per_layer": "instance_norm",
        "normalize_targets": True,
    }
    torch.save(
        {
            "model": {"name": name, "args": args, "sd": state},
            "optimizer": {"name": "adamw", "args": {"lr": 1e-3}, "sd": {}},
            "epoch": 600,
            "scale": {"scale": 65536.0},
        },
        path,
    )
    return path


def authors_features(state: dict[str, torch.Tensor], prefix: str, x: torch.Tensor) -> torch.Tensor:
    """The authors' encoder (embedding, blocks, final norm), re-derived in plain torch.

    ``x`` is the authors' input ``(B, 1, M, T, V, C)``; returns ``(B * M, T' * V, D)``.
    """

    def w(key: str) -> torch.Tensor:
        return state[prefix + key]

    b, n, m = x.shape[:3]
    seq = x.reshape(b * n * m, T, V, 3).permute(0, 3, 1, 2)  # (BM, C, T, V)
    e = F.conv2d(
        seq,
        w("encoder_embedding.projection.1.weight"),
        w("encoder_embedding.projection.1.bias"),
        stride=(S, 1),
    )
    e = e + w("encoder_embedding.spatio_pos_emb") + w("encoder_embedding.temporal_pos_emb")
    h = e.flatten(2).transpose(1, 2)  # (BM, T'V, D), time-major
    for i in range(DEPTH):
        p = f"encoder.layers.{i}."

        def lin(x: torch.Tensor, name: str) -> torch.Tensor:
            return x @ w(p + name + ".weight").T + w(p + name + ".bias")  # noqa: B023

        a = F.layer_norm(h, (D,), w(p + "norm1.weight"), w(p + "norm1.bias"), eps=1e-6)
        q, k, v = (
            lin(a, f"attn.{n}").view(-1, h.shape[1], HEADS, D // HEADS).transpose(1, 2)
            for n in ("queries", "keys", "values")
        )
        att = torch.softmax(torch.einsum("bhqd,bhkd->bhqk", q, k) * (D // HEADS) ** -0.5, dim=-1)
        o = torch.einsum("bhal,bhlv->bhav", att, v).transpose(1, 2).reshape(h.shape)
        h = h + w(p + "gamma_1") * lin(o, "attn.proj")
        f = F.layer_norm(h, (D,), w(p + "norm2.weight"), w(p + "norm2.bias"), eps=1e-6)
        h = h + w(p + "gamma_2") * lin(F.gelu(lin(f, "mlp.fc1")), "mlp.fc2")
    return F.layer_norm(h, (D,), w("encoder_norm.weight"), w("encoder_norm.bias"), eps=1e-6)


@pytest.fixture(scope="module")
def pretrain_state() -> dict[str, torch.Tensor]:
    state = authors_autoencoder("auto_encoder.", seed=1)
    state.update(authors_autoencoder("ema.model.", seed=2))
    return state


def _ours_vs_authors(
    encoder: torch.nn.Module, state: dict[str, torch.Tensor], prefix: str
) -> float:
    x = torch.randn(2, 3, T, V, 2)  # ours: (N, C, T, V, M)
    authors_x = x.permute(0, 4, 2, 3, 1).unsqueeze(1)  # (B, 1, M, T, V, C)
    with torch.no_grad():
        ours = encoder(x)  # (N, M, T', V, D)
        theirs = authors_features(state, prefix, authors_x)
    return float((ours.reshape(4, -1, D) - theirs).abs().max())


def test_pretrain_checkpoint_gives_the_teacher_by_default(
    tmp_path: Path, pretrain_state: dict[str, torch.Tensor]
) -> None:
    (tmp_path / "ntu60_xsub").mkdir()
    source = authors_file(tmp_path / "ntu60_xsub" / "epoch-600.pth", pretrain_state)
    ckpt = import_skeleton2vec_checkpoint(source)
    assert ckpt["dataset"] == "ntu60"
    assert ckpt["recipe"] == "pyskl"
    assert ckpt["epoch"] == 600
    config = ckpt["config"]
    assert config["encoder"]["depth"] == DEPTH
    assert config["encoder"]["dim"] == D
    assert config["encoder"]["num_frames"] == T
    assert config["encoder"]["segment_length"] == S
    assert config["method"]["decoder_depth"] == DEC_DEPTH
    assert config["target"]["ema_steps"] == 251200
    assert config["target"]["top_k"] == DEPTH
    teacher = load_encoder(ckpt)
    assert _ours_vs_authors(teacher, pretrain_state, "ema.model.") < 1e-5
    student = load_encoder(ckpt, which="encoder")
    assert _ours_vs_authors(student, pretrain_state, "auto_encoder.") < 1e-5
    assert _ours_vs_authors(teacher, pretrain_state, "auto_encoder.") > 1e-2  # not the same


def test_the_decoder_is_imported_and_the_method_runs(
    tmp_path: Path, pretrain_state: dict[str, torch.Tensor]
) -> None:
    from skelkit.methods.build import build_method

    ckpt = import_skeleton2vec_checkpoint(authors_file(tmp_path / "a.pth", pretrain_state))
    method = build_method(ckpt["config"])
    method.load_state_dict(ckpt["model"], strict=True)
    dec = dict(method.decoder.named_parameters())
    torch.testing.assert_close(
        dec["pos_embed"], pretrain_state["auto_encoder.decoder_spatio_pos_emb"].permute(0, 2, 3, 1)
    )
    loss, _ = method({"x": torch.randn(2, 3, T, V, 2)})
    assert math.isfinite(loss.item())


def test_classifier_checkpoint_gives_its_encoder(tmp_path: Path) -> None:
    state = {
        "encoder." + k[len("auto_encoder.") :]: v
        for k, v in authors_autoencoder("auto_encoder.", seed=3).items()
    }
    state["cls_head.4.weight"] = torch.randn(60, D)
    state["cls_head.4.bias"] = torch.randn(60)
    ckpt = import_skeleton2vec_checkpoint(
        authors_file(tmp_path / "c.pth", state, "SkTForClassification")
    )
    assert ckpt["config"]["target"]["downstream"] == "student"
    assert not any(k.startswith(("target.", "cls_head")) for k in ckpt["model"])
    assert _ours_vs_authors(load_encoder(ckpt), state, "encoder.") < 1e-5


def test_cli_import_and_unsafe_files(
    tmp_path: Path, pretrain_state: dict[str, torch.Tensor]
) -> None:
    source = authors_file(tmp_path / "epoch-600.pth", pretrain_state)
    out = tmp_path / "imported.pt"
    result = runner.invoke(
        get_app(), ["import-weights", "skeleton2vec", str(source), "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["weights"] == "method"
    assert load_checkpoint(out)["skelkit"]["kind"] == "imported"
    # a pickled object other than tensors and plain data is refused, never executed
    evil = tmp_path / "evil.pth"
    torch.save({"model": {"sd": collections.OrderedDict(), "hook": Payload()}}, evil)
    with pytest.raises(DataError, match="never executes pickled code"):
        import_skeleton2vec_checkpoint(evil)
    result = runner.invoke(
        get_app(), ["import-weights", "skeleton2vec", str(evil), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    other = tmp_path / "other.pth"
    torch.save({"model": {"sd": {"pos_embed": torch.zeros(1)}}}, other)
    with pytest.raises(DataError, match="not a Skeleton2vec transformer checkpoint"):
        import_skeleton2vec_checkpoint(other)
    with pytest.raises(DataError, match="does not exist"):
        import_skeleton2vec_checkpoint(tmp_path / "missing.pth")
