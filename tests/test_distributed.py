"""DDP under torchrun: 2 CPU processes (gloo) train exactly what one process trains.

A step's global batch is cut into ``world_size * accumulate`` shards and every shard's
randomness (augmentation, masking) is keyed by its shard number, so 2 processes with no
accumulation and 1 process accumulating 2 micro-batches draw the same numbers for the same
samples; their weights may differ only by the order of float additions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from skelkit.train.checkpoint import state_fingerprint
from tests.conftest import ROOT
from tests.engine_utils import TINY_MODEL, make_store

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TINY_ARGS = [arg for item in TINY_MODEL for arg in ("--set", item)]


def args(store: Path, out: Path, *extra: str) -> list[str]:
    return [
        "-m",
        "skelkit",
        "-q",
        "pretrain",
        "--data",
        str(store),
        "--split",
        "xsub",
        "--out",
        str(out),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--device",
        "cpu",
        *TINY_ARGS,
        "--set",
        "train.optimizer=sgd",
        "--set",
        "train.lr=0.05",
        *extra,
    ]


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )


def test_two_gloo_ranks_equal_one_process_with_the_same_global_batch(tmp_path: Path) -> None:
    store = make_store(tmp_path / "tiny.h5")
    ddp_out, single_out = tmp_path / "ddp", tmp_path / "single"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    ddp = run([*torchrun, *args(store, ddp_out)])
    assert ddp.returncode == 0, ddp.stderr
    single = run([sys.executable, *args(store, single_out, "--set", "train.accumulate=2")])
    assert single.returncode == 0, single.stderr

    a = torch.load(ddp_out / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(single_out / "checkpoints" / "last.pt", weights_only=True)
    assert a["world_size"] == 2
    assert b["world_size"] == 1
    assert a["step"] == b["step"] == 6
    # Both ranks hold the weights rank 0 saved.
    fingerprints = a["replica_fingerprints"]
    assert len(fingerprints) == 2
    assert fingerprints[0] == fingerprints[1] == state_fingerprint(a["model"])
    for key, value in a["model"].items():
        torch.testing.assert_close(value, b["model"][key], rtol=1e-5, atol=1e-6, msg=key)
    # Only rank 0 writes: one set of checkpoints, one line per logged step.
    assert sorted(p.name for p in (ddp_out / "checkpoints").iterdir()) == [
        "epoch-0002.pt",
        "last.pt",
    ]
    ddp_lines = (ddp_out / "metrics.jsonl").read_text().splitlines()
    assert len(ddp_lines) == len((single_out / "metrics.jsonl").read_text().splitlines())
