"""``test_logits.npz`` of the supervised protocols and ``skelkit evaluate ensemble``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.engine_utils import make_store
from tests.test_evaluate import PRETRAIN, invoke, metrics_of, run_eval, sets


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two tiny linear probes (different seeds) of one MAMP-like checkpoint."""
    root = tmp_path_factory.mktemp("ensemble")
    store = make_store(root / "ntu60.h5", train=24, test=12)
    result = invoke(
        "pretrain", "--data", str(store), "--split", "xsub", "--out", str(root / "pre"),
        *sets(*PRETRAIN),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    setup = {"store": store, "ckpt": root / "pre" / "checkpoints" / "last.pt"}
    for name, seed in (("joint", 0), ("bone", 1)):
        out = root / name
        result = run_eval(setup, "linear", out, "epochs=2", "batch_size=8", f"seed={seed}")
        assert result.exit_code == 0, result.output
    return {"root": root, "store": store, **setup}


def load(path: Path) -> dict[str, Any]:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(logits.argmax(axis=1) == labels) * 100.0)


def test_evaluation_saves_the_final_test_logits(runs: dict[str, Path]) -> None:
    saved = load(runs["root"] / "joint" / "test_logits.npz")
    with h5py.File(runs["store"], "r") as handle:
        test_index = np.asarray(handle["splits/xsub/test"])
        labels = np.asarray(handle["labels"])[test_index]
    np.testing.assert_array_equal(saved["index"], np.sort(test_index))
    np.testing.assert_array_equal(saved["labels"], labels[np.argsort(test_index)])
    assert saved["logits"].shape == (12, 4)
    assert saved["logits"].dtype == np.float32
    assert str(saved["split"]) == "xsub"
    metrics = metrics_of(runs["root"] / "joint")
    assert metrics["final"]["top1"] == pytest.approx(accuracy(saved["logits"], saved["labels"]))


def test_ensemble_adds_the_logits(runs: dict[str, Path], tmp_path: Path) -> None:
    joint, bone = runs["root"] / "joint", runs["root"] / "bone"
    out = tmp_path / "ens"
    result = invoke(
        "evaluate", "ensemble", str(joint), str(bone), "--out", str(out), "--json",
        "--weight", "1", "--weight", "0.5",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    written = metrics_of(out)
    assert printed == written
    a, b = load(joint / "test_logits.npz"), load(bone / "test_logits.npz")
    total = a["logits"].astype(np.float64) + 0.5 * b["logits"].astype(np.float64)
    assert written["protocol"] == "ensemble"
    assert written["test_samples"] == 12
    assert written["final"]["top1"] == pytest.approx(accuracy(total, a["labels"]))
    assert [m["weight"] for m in written["members"]] == [1.0, 0.5]
    assert written["members"][1]["top1"] == pytest.approx(metrics_of(bone)["final"]["top1"])
    assert sum(map(sum, written["confusion"])) == 12
    assert list(written["per_class"]) == ["a", "b", "c", "d"]
    report = invoke("report", str(joint), str(out))
    assert report.exit_code == 0, report.output


def test_ensemble_rejects_other_samples_or_labels(runs: dict[str, Path], tmp_path: Path) -> None:
    joint = runs["root"] / "joint"
    for name, change in (("labels", "labels"), ("samples", "index")):
        other = tmp_path / name
        shutil.copytree(runs["root"] / "bone", other)
        data = load(other / "test_logits.npz")
        data[change] = data[change].copy()
        data[change][0] += 1
        np.savez(other / "test_logits.npz", **data)
        result = invoke("evaluate", "ensemble", str(joint), str(other), "--out", str(tmp_path))
        assert result.exit_code == 2, result.output
        expected = "different labels" if change == "labels" else "different test samples"
        assert expected in result.output
        assert "Traceback" not in result.output


def test_ensemble_usage_errors(runs: dict[str, Path], tmp_path: Path) -> None:
    joint = runs["root"] / "joint"
    cases = [
        ((str(joint),), "at least two"),
        ((str(joint), str(tmp_path)), "no test_logits.npz"),
        ((str(joint), str(joint), "--weight", "1"), "--weight was given 1 times"),
        ((str(joint), str(joint), "--set", "seed=1"), "takes no --set"),
    ]
    for args, message in cases:
        result = invoke("evaluate", "ensemble", *args, "--out", str(tmp_path / "o"))
        assert result.exit_code == 2, result.output
        assert message in result.output
    plain = invoke("evaluate", "linear", str(joint), "--out", str(tmp_path / "o"))
    assert plain.exit_code == 2
    assert "takes no RUN_DIR" in plain.output
    missing = invoke("evaluate", "linear", "--out", str(tmp_path / "o"))
    assert missing.exit_code == 2
    assert "--checkpoint, --split" in missing.output
    no_data = invoke(
        "evaluate",
        "linear",
        "-k",
        str(runs["ckpt"]),
        "--split",
        "xsub",
        "--out",
        str(tmp_path / "o"),
    )
    assert no_data.exit_code == 2
    assert "no data file: pass --data" in no_data.output
