"""Loader throughput with MAMP's train transform: per sample (NumPy) vs batched (torch).

Builds (once) a store of ``--samples`` random sequences of 50-150 frames, then prints
samples/s for:

* ``per-sample``: ``SkeletonDataset(transform=mamp_train())`` in a DataLoader, i.e. the
  crop/resize/rotation runs per item in the loader process(es);
* ``batched``: the loader yields padded items and ``mamp_train().batch`` runs on the
  batch on the device (CPU, and CUDA when available);
* ``transform only``: the transform alone on batches already in memory.

Usage::

    python bench/bench_loader.py --work WORK_DIR [--samples 4096] [--workers 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from skelkit.data.loader import SkeletonDataset, collate, sample_rng, step_generator
from skelkit.data.store import StoreWriter
from skelkit.data.transforms import mamp_train


def _make_store(path: Path, samples: int) -> None:
    if path.is_file():
        return
    rng = np.random.default_rng(0)
    with StoreWriter(path, dataset="ntu60", recipe="bench") as writer:
        for i in range(samples):
            length = int(rng.integers(50, 151))
            frames = rng.standard_normal((length, 2, 25, 3)).astype(np.float32)
            writer.append(f"s{i:06d}", frames, i % 60)
        writer.set_splits({"xsub": {"train": np.arange(samples)}})


def _rate(run: Callable[[], int], repeats: int = 2) -> float:
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        count = run()
        best = max(best, count / (time.perf_counter() - started))
    return best


def _row(label: str, rate: float) -> None:
    print(f"{label:<44} {rate:>10.0f} samples/s")


def main() -> None:
    """Build the store and print the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="scratch folder")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"loader_{args.samples}.h5"
    _make_store(path, args.samples)
    if args.threads:
        torch.set_num_threads(args.threads)
    transform = mamp_train()
    loader_kwargs = {
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "collate_fn": collate,
    }
    print(
        f"{args.samples} samples, batch {args.batch_size}, {args.workers} loader workers, "
        f"{torch.get_num_threads()} torch threads"
    )

    per_sample = SkeletonDataset(path, "xsub", "train", transform=transform)

    def run_per_sample() -> int:
        return sum(len(b["x"]) for b in DataLoader(per_sample, **loader_kwargs))  # type: ignore[arg-type]

    padded = SkeletonDataset(path, "xsub", "train")

    def run_batched(device: str) -> Callable[[], int]:
        def run() -> int:
            count = 0
            for step, batch in enumerate(DataLoader(padded, **loader_kwargs)):  # type: ignore[arg-type]
                x = batch["x"].to(device, non_blocking=True)
                out, _ = transform.batch(x, batch["lengths"], step_generator(0, 0, step, device))
                count += len(out)
            if device == "cuda":
                torch.cuda.synchronize()
            return count

        return run

    def run_padded_only() -> int:
        return sum(len(b["x"]) for b in DataLoader(padded, **loader_kwargs))  # type: ignore[arg-type]

    _row("per-sample transform in the loader", _rate(run_per_sample))
    _row("padded items, no transform (loading only)", _rate(run_padded_only))
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        _row("batched transform on " + device, _rate(run_batched(device)))

    # The transforms alone, on data already in memory.
    items = [padded[i] for i in range(min(len(padded), 1024))]
    valid = [x[:, :n].numpy() for x, n, _, _ in items]

    def per_sample_only() -> int:
        for i, x in enumerate(valid):
            transform(x, sample_rng(0, 0, i))
        return len(valid)

    batches = [
        collate(items[i : i + args.batch_size]) for i in range(0, len(items), args.batch_size)
    ]
    _row("transform only, per sample (NumPy)", _rate(per_sample_only))
    for device in devices:
        moved = [(b["x"].to(device), b["lengths"].to(device)) for b in batches]

        def batched_only(
            moved: list[tuple[torch.Tensor, torch.Tensor]] = moved, device: str = device
        ) -> int:
            for step, (x, lengths) in enumerate(moved):
                transform.batch(x, lengths, step_generator(0, 0, step, device))
            if device == "cuda":
                torch.cuda.synchronize()
            return sum(len(x) for x, _ in moved)

        _row("transform only, batched on " + device, _rate(batched_only))


if __name__ == "__main__":
    main()
