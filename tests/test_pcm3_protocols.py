"""The core evaluation protocols with PCM3's GRU encoder (pooled (N, D) features)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from tests.engine_utils import make_store

pytestmark = pytest.mark.usefixtures("one_torch_thread")

runner = CliRunner()
TINY = [
    "encoder.hidden_size=16",
    "encoder.num_layers=2",
    "method.prompt_size=4",
    "method.dim=8",
    "method.queue_size=36",
    "method.decoder_dim=12",
    "train.num_workers=0",
]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pcm3")
    store = make_store(folder / "tiny.h5", train=12, test=6, recipe="agcn")
    args = ["pretrain", "--plugin", "pcm3", "--data", str(store), "--split", "xsub"]
    args += ["--out", str(folder / "run"), "--epochs", "1", "--batch-size", "6", "--device", "cpu"]
    args += [a for item in TINY for a in ("--set", item)]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    return store, folder / "run" / "checkpoints" / "last.pt"


def evaluate(protocol: str, store: Path, ckpt: Path, out: Path, *sets: str) -> dict[str, object]:
    args = ["evaluate", protocol, "-k", str(ckpt), "-d", str(store), "--split", "xsub"]
    args += ["-o", str(out), "--json", "--set", "protocol.num_workers=0"]
    args += [a for item in sets for a in ("--set", item)]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert isinstance(metrics, dict)
    return metrics


def test_linear_probe_on_gru_features(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    store, ckpt = pretrained
    metrics = evaluate(
        "linear",
        store,
        ckpt,
        tmp_path / "linear",
        "train_transform.name=pcm3_linear",
        "protocol.epochs=2",
        "protocol.batch_size=6",
    )
    text = json.dumps(metrics)
    assert "top1" in text
    assert (tmp_path / "linear" / "metrics.json").is_file()


def test_knn_on_gru_features(pretrained: tuple[Path, Path], tmp_path: Path) -> None:
    store, ckpt = pretrained
    metrics = evaluate("knn", store, ckpt, tmp_path / "knn", "train_transform.name=pcm3_linear")
    assert "top1" in json.dumps(metrics)


def test_linear_probe_uses_the_single_view_transform_without_an_override(
    pretrained: tuple[Path, Path], tmp_path: Path
) -> None:
    """The checkpoint trained with pcm3_views; evaluation trains with its downstream
    counterpart pcm3_linear (at the pretraining window) without any --set."""
    store, ckpt = pretrained
    out = tmp_path / "auto"
    metrics = evaluate("linear", store, ckpt, out, "protocol.epochs=1", "protocol.batch_size=6")
    assert metrics["final"]["top1"] is not None
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train_transform"]["name"] == "pcm3_linear"
    assert config["train_transform"]["window"] == 64
    assert config["train_transform"]["min_ratio"] == 0.5  # pcm3_linear's, not the views' 0.1
    assert config["test_transform"]["name"] == "pcm3_test"


def test_three_view_transform_in_evaluation_is_explained(
    pretrained: tuple[Path, Path], tmp_path: Path
) -> None:
    store, ckpt = pretrained
    args = ["evaluate", "linear", "-k", str(ckpt), "-d", str(store), "--split", "xsub"]
    args += ["-o", str(tmp_path / "bad"), "--set", "protocol.num_workers=0"]
    args += ["--set", "protocol.batch_size=6", "--set", "protocol.epochs=1"]
    args += ["--set", "train_transform.name=pcm3_views"]
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 2
    assert "train_transform.name=pcm3_linear" in result.output
