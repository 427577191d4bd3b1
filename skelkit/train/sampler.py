"""Batches of one rank: the global batch of every step split into equal shards.

Every epoch shuffles all sample indices with a generator seeded from ``(seed, epoch)``
(DistributedSampler semantics, but the same permutation on every rank), drops the
incomplete last batch, and cuts each step's global batch of ``batch_size`` samples into
``world_size * accumulate`` shards. Rank ``r`` runs shards ``r * accumulate + k`` for its
micro-steps ``k``. A run is thus a function of the config and the number of shards,
whether they are processes or accumulation micro-steps.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from skelkit.train.seeding import epoch_generator


@dataclass(frozen=True)
class ShardLayout:
    """How one optimizer step's global batch is divided."""

    num_samples: int
    batch_size: int
    world_size: int = 1
    accumulate: int = 1

    @property
    def shards(self) -> int:
        """Micro-batches per optimizer step over all ranks."""
        return self.world_size * self.accumulate

    @property
    def shard_size(self) -> int:
        """Samples per micro-batch."""
        return self.batch_size // self.shards

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the incomplete last batch is dropped)."""
        return self.num_samples // self.batch_size

    def shard_index(self, rank: int, micro: int) -> int:
        """The global shard number of micro-step ``micro`` on ``rank``."""
        return rank * self.accumulate + micro


class ShardBatchSampler:
    """Yields this rank's micro-batches of ``(index, epoch)`` keys, from ``start_step`` on.

    The keys are those of :class:`skelkit.data.loader.SkeletonDataset`: the epoch travels
    with every item, so persistent DataLoader workers draw the right augmentation.
    """

    def __init__(self, layout: ShardLayout, seed: int, rank: int) -> None:
        self.layout = layout
        self.seed = seed
        self.rank = rank
        self.epoch = 0
        self.start_step = 0

    def set_position(self, epoch: int, start_step: int = 0) -> None:
        """Choose the epoch and the optimizer step within it to start from."""
        self.epoch = epoch
        self.start_step = start_step

    def __len__(self) -> int:
        return (self.layout.steps_per_epoch - self.start_step) * self.layout.accumulate

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        layout = self.layout
        order = torch.randperm(layout.num_samples, generator=epoch_generator(self.seed, self.epoch))
        for step in range(self.start_step, layout.steps_per_epoch):
            for micro in range(layout.accumulate):
                start = step * layout.batch_size
                start += layout.shard_index(self.rank, micro) * layout.shard_size
                chunk = order[start : start + layout.shard_size].tolist()
                yield [(index, self.epoch) for index in chunk]
