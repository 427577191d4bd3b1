"""Settings of the ``data`` config section: which store, which split, how to load it.

Every field has a default. The transforms themselves are components configured in the
``train_transform`` and ``test_transform`` sections (their ``window``, crop ratios and
rotation); DataLoader worker processes are ``train.num_workers`` and the seed of every
per-sample draw is ``train.seed``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from skelkit.errors import ConfigError

#: Environment variable naming the folder of preprocessed stores.
DATA_DIR_ENV = "SKELKIT_DATA_DIR"
#: Folder used when :data:`DATA_DIR_ENV` is unset.
DEFAULT_DATA_DIR = Path("~/.cache/skelkit/data")


def data_dir() -> Path:
    """The folder of preprocessed stores: ``$SKELKIT_DATA_DIR`` or ``~/.cache/skelkit/data``."""
    value = os.environ.get(DATA_DIR_ENV, "").strip()
    return Path(value).expanduser() if value else DEFAULT_DATA_DIR.expanduser()


def default_store_path(dataset: str, recipe: str) -> Path:
    """Where ``skelkit preprocess`` writes, and training reads, ``dataset`` + ``recipe``."""
    return data_dir() / f"{dataset}_{recipe}.h5"


@dataclass(frozen=True)
class DataSettings:
    """The ``data`` section: the store, the split, padding, in-memory and batched modes."""

    # The HDF5 store; null means $SKELKIT_DATA_DIR/<dataset>_<recipe>.h5
    # (~/.cache/skelkit/data when the variable is unset).
    path: str | None = None
    # Evaluation split: "xsub", "xview" (NTU-60, PKU), "xset" (NTU-120).
    split: str = "xsub"
    # Part of the split used for training (pretraining, linear probe, finetuning).
    train_part: str = "train"
    # Part of the split used for testing.
    test_part: str = "test"
    # Read the whole part into memory in every loader process instead of reading per item.
    in_memory: bool = False
    # Frames every sample is zero-padded to when no per-sample transform runs (the
    # reference feeders' 300); a longer sample is an error.
    max_frames: int = 300
    # Run the train transform batched on the training device (CPU or CUDA) instead of per
    # sample in the loader workers; same distribution, much less worker CPU.
    batched_transform: bool = False
    # HDF5 file locking: null keeps HDF5's default; false for NFS/Lustre or read-only
    # mounts that fail with "unable to lock file".
    locking: bool | None = None

    def __post_init__(self) -> None:
        if self.max_frames < 1:
            raise ConfigError(f"data.max_frames must be >= 1, got {self.max_frames}")
        for key in ("split", "train_part", "test_part"):
            if not getattr(self, key):
                raise ConfigError(f"data.{key} must not be empty")

    def store_path(self, dataset: str | None, recipe: str | None) -> Path:
        """The store to read: ``path`` if set, else the default for ``dataset`` + ``recipe``."""
        if self.path:
            return Path(self.path).expanduser()
        if not dataset or not recipe:
            raise ConfigError(
                "data.path is not set and the config names no dataset and recipe; "
                "set data.path=FILE.h5 or choose a dataset (--dataset NAME)"
            )
        return default_store_path(dataset, recipe)

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> DataSettings:
        """Build settings from the ``data`` section of a resolved config."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(section) - known)
        if unknown:
            raise ConfigError(
                f"unknown key data.{unknown[0]}; valid keys: {', '.join(sorted(known))}"
            )
        return cls(**section)


__all__ = ["DATA_DIR_ENV", "DataSettings", "data_dir", "default_store_path"]
