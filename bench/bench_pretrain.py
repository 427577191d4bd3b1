"""Pretraining throughput of the MAE baseline and where a step's time goes.

Two figures, both at the full model size (8 x 256 encoder, 3-block decoder, 120 frames):

1. compute only: ``skelkit bench pretrain`` machinery (the engine's optimizer step on a
   fixed synthetic batch): samples/s, ms/step, GFLOP/step;
2. the real engine on a synthetic store (``StoreWriter``, random smooth motions): a short
   ``pretrain`` run with DataLoader workers and the per-sample MAMP train transform; the
   engine times the wait for each next batch, and the share of step time spent waiting
   (data loading) vs the rest (compute) is printed, the first step (worker start) excluded.

    python bench/bench_pretrain.py                     # CPU, fp32, batch 32
    python bench/bench_pretrain.py --device cuda --precision bf16 --batch-size 128 --steps 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from skelkit.config import resolve_config
from skelkit.data.store import StoreWriter
from skelkit.registry import get_registries
from skelkit.train.bench import bench_pretrain
from skelkit.train.loop import pretrain

MAE_BASELINE = ("masker.name=random", "target.name=coords")


def write_store(path: Path, samples: int, seed: int = 0) -> Path:
    """A store of ``samples`` smooth random two-person motions of 60-300 frames."""
    rng = np.random.default_rng(seed)
    with StoreWriter(path, dataset="ntu60", recipe="ctrgcn") as writer:
        for i in range(samples):
            length = int(rng.integers(60, 300))
            steps = rng.normal(0, 0.01, size=(length, 2, 25, 3)).astype(np.float32)
            frames = rng.normal(0, 0.3, size=(1, 2, 25, 3)).astype(np.float32) + steps.cumsum(0)
            writer.append(f"S001C001P001R001A{i % 60 + 1:03d}", frames, i % 60)
        writer.set_splits({"xsub": {"train": range(samples), "test": range(0)}})
    return path


def main() -> None:
    """Parse options, run both measurements, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="timed steps of each measurement")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    opts = parser.parse_args()
    if opts.threads:
        torch.set_num_threads(opts.threads)

    train = (
        f"train.batch_size={opts.batch_size}",
        f"train.device={opts.device}",
        f"train.precision={opts.precision}",
        f"train.num_workers={opts.workers}",
    )
    config = resolve_config(get_registries(), overrides=[*MAE_BASELINE, *train])
    compute = bench_pretrain(config, steps=opts.steps, warmup=1)
    print(
        f"MAE baseline, {compute.parameters / 1e6:.1f} M parameters, {compute.device_name}, "
        f"{compute.precision}, batch {compute.batch_size} x {compute.frames} frames"
    )
    print(
        f"  compute only: {compute.samples_per_s:.1f} samples/s, {compute.step_ms:.0f} ms/step, "
        f"{compute.gflops_per_step:.1f} GFLOP/step"
        + (f", MFU {compute.mfu:.1%}" if compute.mfu is not None else "")
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "bench.h5", samples=opts.batch_size * (opts.steps + 1))
        run_config = resolve_config(
            get_registries(),
            overrides=[
                *MAE_BASELINE,
                *train,
                f"data.path={store}",
                "train.epochs=1",
                "train.warmup_epochs=0",
                "train.log_every=1",
                "train.checkpoint_every_steps=0",
            ],
        )
        result = pretrain(run_config, Path(tmp) / "run")
        records = [
            json.loads(line)
            for line in (Path(tmp) / "run" / "metrics.jsonl").read_text().splitlines()
        ]
    steps = [r for r in records if r["type"] == "step"][1:]  # the first step starts workers
    step_time = sum(r["step_time"] for r in steps)
    wait = sum(r["step_time"] * r["data_wait_share"] for r in steps)
    print(
        f"  engine with data ({opts.workers} workers, per-sample transform): "
        f"{opts.batch_size * len(steps) / step_time:.1f} samples/s over {len(steps)} steps "
        f"(whole run incl. start: {result.samples_per_s:.1f})"
    )
    print(
        f"  step time: {100 * wait / step_time:.2f}% waiting for data "
        f"({1e3 * wait / len(steps):.1f} ms/step), {100 * (1 - wait / step_time):.2f}% compute "
        f"({1e3 * (step_time - wait) / len(steps):.0f} ms/step)"
    )


if __name__ == "__main__":
    main()
