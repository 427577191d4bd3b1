"""``skelkit pretrain`` end to end on a tiny store, and every user error it must report."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from typer.testing import CliRunner

from skelkit.cli.app import get_app
from skelkit.train.checkpoint import load_checkpoint, load_encoder
from tests.conftest import ROOT, run_skelkit
from tests.engine_utils import TINY_MODEL, make_store

runner = CliRunner()
TINY_ARGS = [arg for item in TINY_MODEL for arg in ("--set", item)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_store(tmp_path_factory.mktemp("data") / "tiny.h5")


def pretrain_args(store: Path, out: Path, *extra: str, epochs: int = 2) -> list[str]:
    return [
        "pretrain",
        "--data",
        str(store),
        "--split",
        "xsub",
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--device",
        "cpu",
        *TINY_ARGS,
        *extra,
    ]


def test_pretrain_writes_a_complete_run(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(get_app(), pretrain_args(store, out, "--json", "--seed", "5"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 6  # 24 samples / 8 per step, 2 epochs
    assert math.isfinite(summary["loss"])
    assert summary["samples_per_s"] > 0

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["train"]["epochs"] == 2
    assert config["train"]["seed"] == 5
    assert config["encoder"]["dim"] == 32
    assert config["data"]["split"] == "xsub"
    assert config["train_transform"]["name"] == "mamp_train"
    assert isinstance(config["plugins"], dict)

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if r["type"] == "step"]
    epochs = [r for r in records if r["type"] == "epoch"]
    assert [r["epoch"] for r in epochs] == [0, 1]
    assert steps[-1]["step"] == 6
    assert all(math.isfinite(r["loss"]) and r["lr"] >= 0 for r in steps)
    assert all(0 <= r["data_wait_share"] <= 1 for r in records)

    ckpt_dir = out / "checkpoints"
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["epoch-0002.pt", "last.pt"]
    raw = torch.load(ckpt_dir / "last.pt", weights_only=True)
    assert raw["skelkit"]["kind"] == "pretrain"
    ckpt = load_checkpoint(ckpt_dir / "last.pt")
    assert (ckpt["dataset"], ckpt["recipe"], ckpt["epoch"], ckpt["step"]) == (
        "ntu60",
        "ctrgcn",
        2,
        6,
    )
    assert ckpt["config"]["train"] == config["train"]
    assert "state" in ckpt["optimizer"]
    encoder = load_encoder(ckpt_dir / "epoch-0002.pt")
    with torch.no_grad():
        features = encoder(torch.zeros(1, 3, 40, 25, 2))
    assert torch.isfinite(features).all()


def test_recipe_mismatch_warns(tmp_path: Path) -> None:
    other = make_store(tmp_path / "pyskl.h5", train=8, test=2, recipe="pyskl")
    result = runner.invoke(
        get_app(), pretrain_args(other, tmp_path / "run", "--set", "recipe=ctrgcn", epochs=1)
    )
    assert result.exit_code == 0, result.output
    assert "preprocessed with recipe 'pyskl'" in result.output
    assert "expects 'ctrgcn'" in result.output


def _assert_user_error(
    result: subprocess.CompletedProcess[str], *fragments: str, alone: bool = True
) -> None:
    """Exit code 2 and one error line (the only stderr line unless training had started)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if alone:
        assert len(lines) == 1, result.stderr
    assert lines[-1].startswith("skelkit: error: ")
    assert sum(line.startswith("skelkit: error") for line in lines) == 1
    for fragment in fragments:
        assert fragment in lines[-1]


def test_missing_and_foreign_data_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.h5"
    _assert_user_error(
        run_skelkit(*pretrain_args(missing, tmp_path / "a")), "no such store", str(missing)
    )
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    _assert_user_error(run_skelkit(*pretrain_args(foreign, tmp_path / "b")), "not a skelkit store")
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    _assert_user_error(run_skelkit(*pretrain_args(text, tmp_path / "c")), "not an HDF5 file")
    assert not (tmp_path / "a").exists()


def test_unknown_split_and_bad_out_dir(store: Path, tmp_path: Path) -> None:
    args = pretrain_args(store, tmp_path / "run")
    args[args.index("xsub")] = "xview"
    _assert_user_error(run_skelkit(*args), "no split xview/train", "xsub/train")
    blocker = tmp_path / "file"
    blocker.write_text("")
    _assert_user_error(run_skelkit(*pretrain_args(store, blocker)), "is a file")
    _assert_user_error(
        run_skelkit(*pretrain_args(store, blocker / "run")), "can not create the output folder"
    )


def test_bad_settings_are_reported_before_training(store: Path, tmp_path: Path) -> None:
    _assert_user_error(
        run_skelkit(*pretrain_args(store, tmp_path / "a", "--precision", "fp8")), "train.precision"
    )
    _assert_user_error(
        run_skelkit(*pretrain_args(store, tmp_path / "b", "--batch-size", "64")),
        "24 samples, fewer than train.batch_size=64",
    )
    _assert_user_error(
        run_skelkit(*pretrain_args(store, tmp_path / "c", "--resume")), "nothing to resume"
    )


def test_existing_run_needs_resume(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = runner.invoke(get_app(), pretrain_args(store, out, epochs=1))
    assert first.exit_code == 0, first.output
    _assert_user_error(run_skelkit(*pretrain_args(store, out, epochs=1)), "already holds a run")


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = run_skelkit(
        *pretrain_args(
            store,
            out,
            "--set",
            "train.lr=1.0e+30",
            "--set",
            "train.checkpoint_every_steps=1",
            epochs=3,
        )
    )
    _assert_user_error(result, "non-finite at step", "last good checkpoint", alone=False)
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert ckpt["step"] >= 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())


def _wait_for_step(metrics: Path, step: int, proc: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        if metrics.exists():
            lines = metrics.read_text().splitlines()
            if any(json.loads(line).get("step", 0) >= step for line in lines[:-1] or lines):
                return
        time.sleep(0.05)
    raise AssertionError(f"the run did not reach step {step} in {timeout} s")


@pytest.mark.integration
def test_ctrl_c_saves_a_resumable_checkpoint(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = pretrain_args(store, out, "--set", "train.log_every=1", epochs=4)
    proc = subprocess.Popen(
        [sys.executable, "-m", "skelkit", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        _wait_for_step(out / "metrics.jsonl", 2, proc, timeout=120)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted at step" in stderr
    assert "--resume" in stderr
    ckpt = load_checkpoint(out / "checkpoints" / "last.pt")
    assert 2 <= ckpt["step"] < 12
    assert f"interrupted at step {ckpt['step']};" in stderr
    resumed = runner.invoke(get_app(), [*args, "--resume", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["steps"] == 12


def test_batched_transform_on_the_training_device(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = pretrain_args(store, out, "--set", "data.batched_transform=true", "--json", epochs=1)
    result = runner.invoke(get_app(), args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 3
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["data"]["batched_transform"] is True


def test_resuming_a_finished_run_trains_nothing_and_reports_its_loss(
    store: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    first = runner.invoke(get_app(), pretrain_args(store, out, "--json", epochs=1))
    assert first.exit_code == 0, first.output
    again = runner.invoke(get_app(), pretrain_args(store, out, "--json", "--resume", epochs=1))
    assert again.exit_code == 0, again.output
    assert "already finished" in again.stderr
    assert json.loads(again.stdout)["loss"] == json.loads(first.stdout)["loss"]
