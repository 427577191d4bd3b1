"""The synthetic classes are learnable through the real pipeline.

synth (NTU-60 raw files) -> preprocess (ctrgcn recipe) -> store -> a small MLP on sequences
resized to 32 frames, trained on the cross-subject training part, tested on the held-out
test subjects (other performers, other sizes and styles, every camera view).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from skelkit.data.preprocess import preprocess
from skelkit.data.store import open_store
from skelkit.data.synth import synthesize

WINDOW = 32


def resize(frames: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Linear resampling of (T, M, V, C) to (window, M, V, C)."""
    source = np.linspace(0.0, len(frames) - 1, window)
    low = np.floor(source).astype(int)
    high = np.minimum(low + 1, len(frames) - 1)
    weight = (source - low)[:, None, None, None]
    return frames[low] * (1.0 - weight) + frames[high] * weight


@pytest.mark.slow
def test_held_out_subjects_are_classified(tmp_path: Path) -> None:
    import torch

    classes = 8
    raw = tmp_path / "raw"
    synthesize("ntu60", raw, samples=240, classes=classes, seed=5, min_length=40, max_length=80)
    preprocess("ntu60", [raw], tmp_path / "ntu60.h5", workers=1)
    with open_store(tmp_path / "ntu60.h5") as store:
        train = store.split_indices("xsub", "train")
        test = store.split_indices("xsub", "test")
        x = np.stack([resize(store.read(i)) for i in range(store.num_samples)])
        labels = np.searchsorted(np.unique(store.labels), store.labels)
    assert len(np.unique(labels)) == classes
    assert len(train) >= 100
    assert len(test) >= 100

    torch.manual_seed(0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        inputs = torch.tensor(x, dtype=torch.float32).flatten(1)
        targets = torch.tensor(labels)
        model = torch.nn.Sequential(
            torch.nn.Linear(inputs.shape[1], 128), torch.nn.ReLU(), torch.nn.Linear(128, classes)
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
        train_idx, test_idx = torch.tensor(train), torch.tensor(test)
        for _ in range(200):
            loss = torch.nn.functional.cross_entropy(model(inputs[train_idx]), targets[train_idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            predicted = model(inputs[test_idx]).argmax(1)
        accuracy = (predicted == targets[test_idx]).float().mean().item()
    finally:
        torch.set_num_threads(threads)
    assert accuracy >= 0.85, f"held-out accuracy {accuracy:.3f}"
