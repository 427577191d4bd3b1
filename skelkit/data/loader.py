"""Torch datasets over a skelkit store, safe with DataLoader workers (fork, spawn, forkserver).

:class:`SkeletonDataset` keeps only the path and the split's small per-sample arrays; it
opens the HDF5 file lazily in each process on first use and drops the handle when pickled,
so it works with any worker start method. An item is
``(x (C, T, V, M) float32 tensor, length, label, index)``:

* without a per-sample transform, ``x`` holds the valid frames zero-padded to
  ``max_frames`` (300, like the reference feeders) and ``length`` is the valid count;
  a batched transform can then run on the training device;
* with a per-sample transform (``transform(x, rng) -> x``, e.g.
  :class:`skelkit.data.transforms.CropResize`), ``x`` is its output and ``length`` its
  frame count.

``index`` is the position in the dataset. Per-sample randomness comes from
:func:`sample_rng` ``(seed, epoch, index)``, so an epoch's draws do not depend on worker
count, order or resumption: call :meth:`SkeletonDataset.set_epoch` before each epoch (with
``persistent_workers=False``, the default, workers see it), or use keys ``(index, epoch)``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from skelkit.data.store import SkeletonStore, open_store
from skelkit.errors import DataError

#: A per-sample transform: valid frames (C, T, V, M) and an RNG -> transformed (C, T', V, M).
SampleTransform = Callable[[np.ndarray, np.random.Generator], np.ndarray]
Item = tuple[torch.Tensor, int, int, int]


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The RNG of one sample in one epoch, independent of workers and order."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


def step_generator(
    seed: int, epoch: int, step: int, device: torch.device | str = "cpu"
) -> torch.Generator:
    """A torch generator on ``device`` for one optimizer step (batched transforms)."""
    state = np.random.SeedSequence([int(seed), int(epoch), int(step)]).generate_state(2)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(state[0]) << 31 ^ int(state[1]))
    return generator


class SkeletonDataset(Dataset[Item]):
    """One ``split/part`` of a skelkit store as a map-style torch dataset.

    Args:
        path: the ``.h5`` store written by ``skelkit preprocess``.
        split, part: e.g. ``"xsub"``, ``"train"``; unknown ones raise DataError listing
            the available ones.
        transform: optional per-sample transform (see the module docstring).
        in_memory: read the whole part into memory once per process (fast random access
            on slow disks; costs its size in RAM per worker).
        max_frames: padding length when there is no transform.
        seed: seed of the per-sample draws.
        locking: HDF5 file locking (None: HDF5's default; False for NFS and the like).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str,
        part: str,
        transform: SampleTransform | None = None,
        *,
        in_memory: bool = False,
        max_frames: int = 300,
        seed: int = 0,
        locking: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.split, self.part = split, part
        self.transform = transform
        self.in_memory = in_memory
        self.max_frames = max_frames
        self.seed = seed
        self.locking = locking
        self.epoch = 0
        with open_store(self.path, locking=locking) as store:
            self.indices: np.ndarray = store.split_indices(split, part)
            self.lengths: np.ndarray = store.lengths[self.indices].astype(np.int64)
            self.labels: np.ndarray = store.labels[self.indices].astype(np.int64)
            self.class_names: tuple[str, ...] = store.class_names
            self.dataset_name = store.dataset
            self.recipe = store.recipe
            self.frame_shape = store.frame_shape
        longest = int(self.lengths.max()) if len(self.lengths) else 0
        if transform is None and longest > max_frames:
            raise DataError(
                f"{self.path}: {split}/{part} has a sample of {longest} frames, more than "
                f"data.max_frames={max_frames}; raise data.max_frames"
            )
        self._store: SkeletonStore | None = None
        self._owner_pid: int | None = None
        self._memory: tuple[np.ndarray, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def num_classes(self) -> int:
        """Number of classes of the dataset (from the store's class names, or the labels)."""
        if self.class_names:
            return len(self.class_names)
        return int(self.labels.max()) + 1 if len(self.labels) else 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose per-sample draws the next items use."""
        self.epoch = int(epoch)

    # -- pickling and lazy opening ----------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_store"] = None
        state["_owner_pid"] = None
        state["_memory"] = None
        return state

    def _open(self) -> SkeletonStore:
        if self._store is None or self._owner_pid != os.getpid():
            # A handle inherited through fork() is never reused: open our own.
            self._store = open_store(self.path, locking=self.locking)
            self._owner_pid = os.getpid()
            self._memory = None
        return self._store

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next item)."""
        if self._store is not None and self._owner_pid == os.getpid():
            self._store.close()
        self._store, self._owner_pid, self._memory = None, None, None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown h5py may be gone
            self.close()

    def _load_memory(self, store: SkeletonStore) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.zeros(len(self.indices) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=offsets[1:])
        frames = np.empty((int(offsets[-1]), *store.frame_shape), dtype=np.float32)
        position = {int(idx): pos for pos, idx in enumerate(self.indices)}
        for idx, block in store.iter_runs(self.indices):
            pos = position[idx]
            frames[offsets[pos] : offsets[pos + 1]] = block
        return frames, offsets

    def frames(self, i: int) -> np.ndarray:
        """Valid frames of item ``i`` as stored: float32 (T, M, V, C)."""
        store = self._open()
        if self.in_memory:
            if self._memory is None:
                self._memory = self._load_memory(store)
            frames, offsets = self._memory
            return frames[offsets[i] : offsets[i + 1]]
        return store.read(int(self.indices[i]))

    # -- items ------------------------------------------------------------------------------

    def __getitem__(self, key: int | tuple[int, int]) -> Item:
        if isinstance(key, tuple):
            i, epoch = int(key[0]), int(key[1])
        else:
            i, epoch = int(key), self.epoch
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} samples")
        i %= len(self)
        x = np.ascontiguousarray(self.frames(i).transpose(3, 0, 2, 1))  # (C, T, V, M)
        if self.transform is not None:
            x = self.transform(x, sample_rng(self.seed, epoch, i))
            length = x.shape[1]
        else:
            length = x.shape[1]
            padded = np.zeros((x.shape[0], self.max_frames, *x.shape[2:]), dtype=np.float32)
            padded[:, :length] = x
            x = padded
        return (
            torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
            length,
            int(self.labels[i]),
            i,
        )


def collate(items: Sequence[Item]) -> dict[str, torch.Tensor]:
    """Stack items into a batch dict ``{"x", "lengths", "labels", "index"}``."""
    xs, lengths, labels, index = zip(*items, strict=True)
    return {
        "x": torch.stack(list(xs)),
        "lengths": torch.tensor(lengths, dtype=torch.int64),
        "labels": torch.tensor(labels, dtype=torch.int64),
        "index": torch.tensor(index, dtype=torch.int64),
    }


__all__ = ["SampleTransform", "SkeletonDataset", "collate", "sample_rng", "step_generator"]
