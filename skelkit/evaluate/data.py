"""The data of an evaluation: the split's parts, subsets, transforms and sharded loaders.

Training batches come from :class:`skelkit.train.sampler.ShardBatchSampler` (the same
global batches on any number of processes). Test samples are split between the ranks
without padding or duplicates (rank ``r`` takes positions ``r, r + W, ...``), and the
metrics are summed over the ranks (:mod:`skelkit.evaluate.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from skelkit.data.loader import Item, SkeletonDataset, collate
from skelkit.data.settings import DataSettings
from skelkit.errors import DataError
from skelkit.train.seeding import derive_seed

#: ``epoch`` key of test items: the test transform is deterministic, clip k uses CLIP_EPOCH + k.
CLIP_EPOCH = 1_000_000


class SubsetDataset(Dataset[Item]):
    """Positions ``indices`` of a :class:`SkeletonDataset`, keyed like it (``(i, epoch)``)."""

    def __init__(self, dataset: SkeletonDataset, indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.labels = dataset.labels[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        i, epoch = key if isinstance(key, tuple) else (key, self.dataset.epoch)
        return self.dataset[(int(self.indices[int(i)]), int(epoch))]


def subset_indices(num_samples: int, ratio: float, seed: int, run: int) -> np.ndarray:
    """A uniformly drawn ``ratio`` of ``range(num_samples)`` for semi-supervised run ``run``.

    The draw depends only on ``(seed, run)`` (never on the rank), like MAMP's
    ``np.random.shuffle`` subset but without its per-rank seed. At least one sample.
    """
    if ratio >= 1.0:
        return np.arange(num_samples, dtype=np.int64)
    rng = np.random.default_rng(derive_seed(seed, "subset", run))
    order = rng.permutation(num_samples)
    keep = max(1, int(num_samples * ratio))
    return np.sort(order[:keep]).astype(np.int64)


class ShardedTestSampler:
    """Rank ``rank``'s test positions in batches, each key ``(position, epoch)``."""

    def __init__(self, num_samples: int, batch_size: int, rank: int, world_size: int) -> None:
        self.positions = list(range(rank, num_samples, world_size))
        self.batch_size = batch_size
        self.epoch = CLIP_EPOCH

    def __len__(self) -> int:
        return (len(self.positions) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for start in range(0, len(self.positions), self.batch_size):
            chunk = self.positions[start : start + self.batch_size]
            yield [(p, self.epoch) for p in chunk]


@dataclass
class EvalData:
    """Where the evaluation reads: the store, split and parts, and its class names."""

    path: Path
    split: str
    train_part: str
    test_part: str
    dataset_name: str
    recipe: str
    class_names: tuple[str, ...]
    num_classes: int
    train_size: int
    test_size: int
    settings: DataSettings

    def open(self, part: str, transform: Any, seed: int) -> SkeletonDataset:
        """The ``part`` of the split with a per-sample ``transform``."""
        return SkeletonDataset(
            self.path,
            self.split,
            part,
            transform=transform,
            in_memory=self.settings.in_memory,
            max_frames=self.settings.max_frames,
            seed=seed,
            locking=self.settings.locking,
        )

    def describe(self) -> dict[str, Any]:
        """What a resumed evaluation must find again."""
        return {
            "file": self.path.name,
            "split": self.split,
            "train_part": self.train_part,
            "test_part": self.test_part,
            "train_samples": self.train_size,
            "test_samples": self.test_size,
        }


def open_eval_data(data: Mapping[str, Any]) -> EvalData:
    """Check the ``data`` section's store and split; count classes and samples."""
    settings = DataSettings.from_dict(dict(data))
    if not settings.path:
        raise DataError("no data file: pass --data FILE.h5 (the store to evaluate on)")
    path = Path(settings.path).expanduser()
    train = SkeletonDataset(path, settings.split, settings.train_part, transform=_identity)
    test = SkeletonDataset(path, settings.split, settings.test_part, transform=_identity)
    if len(train) == 0 or len(test) == 0:
        raise DataError(
            f"{path}: split {settings.split} has {len(train)} '{settings.train_part}' and "
            f"{len(test)} '{settings.test_part}' samples; evaluation needs both"
        )
    labels = np.concatenate([train.labels, test.labels])
    num_classes = max(train.num_classes, int(labels.max()) + 1)
    return EvalData(
        path=path,
        split=settings.split,
        train_part=settings.train_part,
        test_part=settings.test_part,
        dataset_name=train.dataset_name,
        recipe=train.recipe,
        class_names=train.class_names,
        num_classes=num_classes,
        train_size=len(train),
        test_size=len(test),
        settings=settings,
    )


def _identity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return x


def loader(
    dataset: Dataset[Item], batch_sampler: Any, num_workers: int, device: torch.device
) -> DataLoader[Any]:
    """A DataLoader over ``batch_sampler``'s keys with skelkit's collate."""
    return DataLoader(
        dataset,
        batch_sampler=batch_sampler,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=device.type == "cuda",
    )
