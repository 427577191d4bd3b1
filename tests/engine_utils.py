"""Helpers of the engine tests: a tiny skelkit store and a tiny model configuration."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from skelkit.data.store import StoreWriter

#: A model small enough to train in seconds on a CPU (MAE baseline of the core, 40 frames).
TINY_MODEL = (
    "train_transform.name=mamp_train",
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
    "train.log_every=2",
)


def make_store(
    path: Path, train: int = 24, test: int = 8, seed: int = 0, recipe: str = "ctrgcn"
) -> Path:
    """Write a small store of smooth random motions (2 persons, 25 joints) with xsub splits."""
    rng = np.random.default_rng(seed)
    total = train + test
    with StoreWriter(
        path, dataset="ntu60", recipe=recipe, class_names=["a", "b", "c", "d"]
    ) as writer:
        for i in range(total):
            length = int(rng.integers(64, 100))
            t = np.arange(length, dtype=np.float32)[:, None, None, None] / 30.0
            freq = rng.uniform(0.5, 2.0, size=(1, 2, 25, 3)).astype(np.float32)
            phase = rng.uniform(0, 6.28, size=(1, 2, 25, 3)).astype(np.float32)
            base = rng.normal(0, 0.3, size=(1, 2, 25, 3)).astype(np.float32)
            frames = base + 0.1 * np.sin(freq * t + phase)
            frames[:, 1] *= i % 2  # every other sample has one person only
            writer.append(f"S001C001P001R001A{i:03d}", frames.astype(np.float32), i % 4)
        writer.set_splits({"xsub": {"train": range(train), "test": range(train, total)}})
    return path
