"""Exact resumption: a run killed with SIGKILL mid-epoch and resumed equals an uninterrupted one."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT, run_skelkit
from tests.engine_utils import TINY_MODEL, make_store

TINY_ARGS = [arg for item in TINY_MODEL for arg in ("--set", item)]


def run_args(store: Path, out: Path, *extra: str) -> list[str]:
    return [
        "-q",
        "pretrain",
        "--data",
        str(store),
        "--split",
        "xsub",
        "--out",
        str(out),
        "--epochs",
        "3",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        "--seed",
        "7",
        *TINY_ARGS,
        "--set",
        "train.checkpoint_every_steps=1",
        *extra,
    ]


def saved_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["step"])
    except (FileNotFoundError, RuntimeError, EOFError):
        return -1


def kill_after_step(args: list[str], last: Path, step: int, timeout: float = 180) -> int:
    """Start a run, SIGKILL it once ``last`` holds ``step`` or more; return the saved step."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "skelkit", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + timeout
        while saved_step(last) < step:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return saved_step(last)


@pytest.mark.integration
def test_sigkill_then_resume_is_bit_identical(tmp_path: Path) -> None:
    store = make_store(tmp_path / "tiny.h5")  # 24 training samples: 3 steps per epoch
    straight = tmp_path / "straight"
    done = run_skelkit(*run_args(store, straight))
    assert done.returncode == 0, done.stderr

    # The interrupted run loads in 2 worker processes: the draws must not depend on it.
    killed = tmp_path / "killed"
    last = killed / "checkpoints" / "last.pt"
    workers = ("--set", "train.num_workers=2")
    step = kill_after_step(run_args(store, killed, *workers), last, step=4)
    assert 4 <= step < 9, "the kill must land before the end of the run"
    resumed = run_skelkit(*run_args(store, killed, *workers, "--resume"))
    assert resumed.returncode == 0, resumed.stderr

    a = torch.load(straight / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(last, weights_only=True)
    assert a["step"] == b["step"] == 9
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    for sa, sb in zip(
        a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True
    ):
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    lines_a = (straight / "metrics.jsonl").read_text().splitlines()
    lines_b = (killed / "metrics.jsonl").read_text().splitlines()
    assert len(lines_a) == len(lines_b)  # the killed run's extra lines were dropped


def test_resume_with_another_config_lists_the_differences(tmp_path: Path) -> None:
    store = make_store(tmp_path / "tiny.h5", train=8, test=2)
    out = tmp_path / "run"
    first = run_skelkit(*run_args(store, out, "--set", "train.epochs=1"))
    assert first.returncode == 0, first.stderr
    changed = run_skelkit(
        *run_args(store, out, "--set", "train.epochs=1", "--set", "masker.ratio=0.8", "--resume")
    )
    assert changed.returncode == 2
    assert "Traceback" not in changed.stderr
    message = changed.stderr.strip()
    assert message.startswith("skelkit: error: --resume: the config differs")
    assert "masker.ratio: 0.9 -> 0.8" in message
    same = run_skelkit(*run_args(store, out, "--set", "train.epochs=1", "--resume"))
    assert same.returncode == 0, same.stderr  # nothing left to do, but allowed
