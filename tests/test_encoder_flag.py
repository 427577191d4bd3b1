"""``--encoder`` of evaluate, embed and export on a tiny Skeleton2vec checkpoint: the default
is the EMA teacher (``target.teacher``), ``--encoder encoder`` the student."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from tests.engine_utils import make_store
from tests.test_skeleton2vec_pretrain import TINY_S2V

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(get_app(), list(args))


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("s2v")
    store = make_store(root / "pyskl.h5", recipe="pyskl", train=16, test=8)
    args = ["pretrain", "--preset", "skeleton2vec", "--data", str(store), "--split", "xsub"]
    args += ["--out", str(root / "run"), "--batch-size", "8", "--device", "cpu", "--epochs", "1"]
    result = invoke(*args, *[a for item in TINY_S2V for a in ("--set", item)])
    assert result.exit_code == 0, result.output
    return {"root": root, "store": store, "ckpt": root / "run" / "checkpoints" / "last.pt"}


def test_teacher_and_student_weights_differ(pretrained: dict[str, Path]) -> None:
    ckpt = load_checkpoint(pretrained["ckpt"])
    teacher = load_encoder(ckpt).state_dict()
    student = load_encoder(ckpt, which="encoder").state_dict()
    assert teacher.keys() == student.keys()
    for key, value in ckpt["model"].items():
        if key.startswith("target.teacher."):
            torch.testing.assert_close(teacher[key.removeprefix("target.teacher.")], value)
        elif key.startswith("encoder."):
            torch.testing.assert_close(student[key.removeprefix("encoder.")], value)
    assert any(not torch.equal(teacher[k], student[k]) for k in teacher)


def reference_features(pretrained: dict[str, Path], which: str) -> np.ndarray:
    """Pooled features of the test part computed directly from the named module."""
    from skelkit.data.loader import SkeletonDataset, collate
    from skelkit.evaluate.data import CLIP_EPOCH
    from skelkit.evaluate.model import pooled
    from skelkit.train.data import build_transform, with_default_transforms

    ckpt = load_checkpoint(pretrained["ckpt"])
    config = with_default_transforms(ckpt["config"])
    dataset = SkeletonDataset(
        pretrained["store"], "xsub", "test", build_transform(config, "test_transform"), seed=0
    )
    dataset.set_epoch(CLIP_EPOCH)
    encoder = load_encoder(ckpt, which=which).eval()
    batch = collate([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        return pooled(encoder, encoder(batch["x"])).numpy()


def embed(pretrained: dict[str, Path], out: Path, *extra: str) -> np.ndarray:
    result = invoke(
        "embed", str(pretrained["ckpt"]), "--data", str(pretrained["store"]), "--split", "xsub",
        "--part", "test", "--out", str(out), "--device", "cpu", *extra,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with h5py.File(out, "r") as handle:
        assert handle.attrs["weights"] == (extra[-1] if extra else "target.teacher")
        return np.asarray(handle["features"])


def test_embed_teacher_by_default_and_student_on_request(
    pretrained: dict[str, Path], tmp_path: Path
) -> None:
    teacher = embed(pretrained, tmp_path / "teacher.h5")
    student = embed(pretrained, tmp_path / "student.h5", "--encoder", "encoder")
    np.testing.assert_allclose(teacher, reference_features(pretrained, "target.teacher"), atol=1e-5)
    np.testing.assert_allclose(student, reference_features(pretrained, "encoder"), atol=1e-5)
    assert not np.allclose(teacher, student, atol=1e-4)


def test_export_student_on_request(pretrained: dict[str, Path], tmp_path: Path) -> None:
    from skelkit.export.model import ExportedEncoder, example_input

    x = example_input(30, batch=2, seed=1)
    outputs = {}
    for which in ("target.teacher", "encoder"):
        out = tmp_path / f"{which}.pt"
        extra = ("--encoder", which) if which == "encoder" else ()
        result = invoke(
            "export", str(pretrained["ckpt"]), "--format", "torchscript", "--out", str(out), *extra
        )
        assert result.exit_code == 0, result.output
        with torch.no_grad():
            outputs[which] = torch.jit.load(str(out)).eval()(x)
            module = ExportedEncoder(load_encoder(pretrained["ckpt"], which=which)).eval()
            torch.testing.assert_close(outputs[which], module(x), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(outputs["target.teacher"], outputs["encoder"], atol=1e-4)


def test_evaluate_with_the_student(pretrained: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "knn"
    result = invoke(
        "evaluate", "knn", "-k", str(pretrained["ckpt"]), "-d", str(pretrained["store"]),
        "--split", "xsub", "-o", str(out), "--device", "cpu", "--encoder", "encoder",
        "--set", "num_workers=0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["protocol"]["encoder"] == "encoder"
    wrong = invoke(
        "evaluate", "knn", "-k", str(pretrained["ckpt"]), "-d", str(pretrained["store"]),
        "--split", "xsub", "-o", str(tmp_path / "bad"), "--device", "cpu",
        "--encoder", "decoder.nope", "--set", "num_workers=0",
    )  # fmt: skip
    assert wrong.exit_code == 2
    assert "decoder.nope" in wrong.output
    assert "Traceback" not in wrong.output


def test_linear_probe_features_follow_the_encoder_flag(
    pretrained: dict[str, Path], tmp_path: Path
) -> None:
    """The frozen linear probe evaluates the chosen module: its final test logits differ."""
    logits = {}
    for which in ("target.teacher", "encoder"):
        out = tmp_path / which
        result = invoke(
            "evaluate", "linear", "-k", str(pretrained["ckpt"]), "-d", str(pretrained["store"]),
            "--split", "xsub", "-o", str(out), "--device", "cpu", "--encoder", which,
            "--set", "num_workers=0", "--set", "epochs=1", "--set", "batch_size=8",
            "--set", "eval_batch_size=8",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        with np.load(out / "test_logits.npz") as data:
            logits[which] = data["logits"]
    assert not np.allclose(logits["target.teacher"], logits["encoder"], atol=1e-5)
