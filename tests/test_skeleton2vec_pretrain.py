"""``skelkit pretrain`` with Skeleton2vec, the papers' ablation swaps, and exact resumption."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from tests.engine_utils import make_store

runner = CliRunner()

TINY_S2V = (
    "train_transform.window=30",
    "test_transform.window=30",
    "encoder.num_frames=30",
    "encoder.dim=32",
    "encoder.depth=2",
    "encoder.num_heads=2",
    "method.decoder_dim=32",
    "method.decoder_depth=1",
    "method.decoder_heads=2",
    "target.top_k=2",
    "train.num_workers=0",
    "train.warmup_epochs=1",
    "train.log_every=1",
    "train.save_every=1",
)
TINY_MAMP = (
    "train_transform.window=40",
    "encoder.num_frames=40",
    "encoder.dim=32",
    "encoder.depth=1",
    "encoder.num_heads=2",
    "method.decoder_dim=32",
    "method.decoder_depth=1",
    "method.decoder_heads=2",
    "train.num_workers=0",
    "train.warmup_epochs=1",
)


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {
        "pyskl": make_store(root / "pyskl.h5", recipe="pyskl"),
        "ctrgcn": make_store(root / "ctrgcn.h5"),
    }


def pretrain(store: Path, out: Path, preset: str, sets: tuple[str, ...], *extra: str) -> dict:
    args = [
        "pretrain",
        "--preset",
        preset,
        "--data",
        str(store),
        "--split",
        "xsub",
        "--out",
        str(out),
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--json",
    ]
    for item in sets:
        args += ["--set", item]
    result = runner.invoke(get_app(), [*args, *extra])
    assert result.exit_code == 0, result.output
    summary: dict = json.loads(result.stdout)
    assert math.isfinite(summary["loss"])
    return summary


@pytest.mark.parametrize(
    ("preset", "swap"),
    [
        ("skeleton2vec", None),
        ("skeleton2vec", "masker.name=motion_aware"),
        ("skeleton2vec", "target.name=motion"),
        ("mamp", "masker.name=tube"),
    ],
)
def test_pretrain_and_ablation_swaps(
    stores: dict[str, Path], tmp_path: Path, preset: str, swap: str | None
) -> None:
    store = stores["pyskl" if preset == "skeleton2vec" else "ctrgcn"]
    sets = (TINY_S2V if preset == "skeleton2vec" else TINY_MAMP) + ((swap,) if swap else ())
    summary = pretrain(store, tmp_path / "run", preset, sets, "--epochs", "1")
    assert summary["steps"] == 3  # 24 samples / 8 per step
    ckpt = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    config = ckpt["config"]
    if swap:
        key, value = swap.split("=")
        section, name = key.split(".")
        assert config[section][name] == value
    has_teacher = config["target"]["name"] == "contextual"
    assert any(k.startswith("target.teacher.") for k in ckpt["model"]) == has_teacher
    if config["masker"]["name"] == "tube":
        assert config["masker"]["tube_len"] == 5


def test_downstream_uses_the_teacher_unless_told(stores: dict[str, Path], tmp_path: Path) -> None:
    pretrain(stores["pyskl"], tmp_path / "t", "skeleton2vec", TINY_S2V, "--epochs", "1")
    ckpt = load_checkpoint(tmp_path / "t" / "checkpoints" / "last.pt")
    loaded = load_encoder(ckpt)
    assert all(p.requires_grad for p in loaded.parameters())  # finetuning trains it
    teacher = loaded.state_dict()
    for key, value in teacher.items():
        assert torch.equal(value, ckpt["model"][f"target.teacher.{key}"])
    student = load_encoder(ckpt, which="encoder").state_dict()
    assert not all(torch.equal(teacher[k], student[k]) for k in student)
    pretrain(
        stores["pyskl"],
        tmp_path / "s",
        "skeleton2vec",
        (*TINY_S2V, "target.downstream=student"),
        "--epochs",
        "1",
    )
    ckpt = load_checkpoint(tmp_path / "s" / "checkpoints" / "last.pt")
    for key, value in load_encoder(ckpt).state_dict().items():
        assert torch.equal(value, ckpt["model"][f"encoder.{key}"])


def test_resume_restores_the_teacher_exactly(stores: dict[str, Path], tmp_path: Path) -> None:
    full = tmp_path / "full"
    pretrain(stores["pyskl"], full, "skeleton2vec", TINY_S2V, "--epochs", "2")
    # the run as it stood after epoch 1, then resumed to the end
    cut = tmp_path / "cut"
    shutil.copytree(full, cut)
    shutil.copy(cut / "checkpoints" / "epoch-0001.pt", cut / "checkpoints" / "last.pt")
    (cut / "checkpoints" / "epoch-0002.pt").unlink()
    pretrain(stores["pyskl"], cut, "skeleton2vec", TINY_S2V, "--epochs", "2", "--resume")
    a = load_checkpoint(full / "checkpoints" / "last.pt")["model"]
    b = load_checkpoint(cut / "checkpoints" / "last.pt")["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    mid = load_checkpoint(full / "checkpoints" / "epoch-0001.pt")["model"]
    assert not torch.equal(mid["target.teacher.norm.weight"], a["target.teacher.norm.weight"])
