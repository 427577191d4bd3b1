"""The training data of a run: the store's split part, its transform, the loader.

The train transform (config section ``train_transform``) runs per sample in the loader
workers, or batched on the training device when ``data.batched_transform`` is set; both
draw from generators derived from the seed and the position (see
:mod:`skelkit.train.seeding`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from skelkit.data.loader import SkeletonDataset, collate
from skelkit.data.settings import DataSettings
from skelkit.errors import ConfigError
from skelkit.train.seeding import shard_generator


def with_default_transforms(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with the default ``train_transform`` / ``test_transform`` filled in.

    Resolved configs always have both; imported checkpoints' configs may not.
    """
    from skelkit.config import DEFAULT_SELECTION, resolve_component_section
    from skelkit.registry import get_registries

    filled = dict(config)
    for section in ("train_transform", "test_transform"):
        if not isinstance(filled.get(section), Mapping):
            filled[section] = resolve_component_section(
                section, {"name": DEFAULT_SELECTION[section]}, get_registries()
            )
    return filled


def build_transform(config: Mapping[str, Any], section: str) -> Any:
    """Build the transform of config ``section`` (``train_transform`` / ``test_transform``)."""
    from skelkit.registry import get_registries

    values = config.get(section)
    if not isinstance(values, Mapping):
        raise ConfigError(f"config has no '{section}' section; set {section}.name")
    return get_registries().build(section, values)


@dataclass
class TrainData:
    """The training part of a split, ready for the engine."""

    dataset: SkeletonDataset
    device: torch.device
    seed: int
    batched: Any | None = None

    @property
    def num_samples(self) -> int:
        """Samples in the training part."""
        return len(self.dataset)

    @property
    def dataset_name(self) -> str:
        """The dataset the store was made from (``ntu60``...)."""
        return self.dataset.dataset_name

    @property
    def recipe(self) -> str:
        """The preprocessing recipe of the store."""
        return self.dataset.recipe

    def describe(self) -> dict[str, Any]:
        """What a resumed run must find again: file name, split, part and size."""
        return {
            "file": self.dataset.path.name,
            "split": self.dataset.split,
            "part": self.dataset.part,
            "samples": self.num_samples,
        }

    def loader(self, batch_sampler: Any, num_workers: int) -> DataLoader[Any]:
        """A DataLoader yielding this rank's micro-batches in ``batch_sampler``'s order."""
        return DataLoader(
            self.dataset,
            batch_sampler=batch_sampler,
            num_workers=num_workers,
            collate_fn=collate,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
        )

    def prepare(
        self, batch: Mapping[str, torch.Tensor], epoch: int, step: int, shard: int
    ) -> dict[str, torch.Tensor]:
        """Move a micro-batch to the device and run the batched transform if configured."""
        moved = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.batched is not None:
            generator = shard_generator(self.seed, epoch, step, shard, self.device)
            moved["x"], moved["lengths"] = self.batched.batch(
                moved["x"], moved["lengths"], generator=generator
            )
        return moved


def open_train_data(config: Mapping[str, Any], device: torch.device, seed: int) -> TrainData:
    """Open the training part named by the config's ``data`` section."""
    settings = DataSettings.from_dict(dict(config.get("data") or {}))
    path = settings.store_path(config.get("dataset"), config.get("recipe"))
    transform = build_transform(config, "train_transform")
    batched = settings.batched_transform
    dataset = SkeletonDataset(
        Path(path),
        settings.split,
        settings.train_part,
        transform=None if batched else transform,
        in_memory=settings.in_memory,
        max_frames=settings.max_frames,
        seed=seed,
        locking=settings.locking,
    )
    return TrainData(
        dataset=dataset, device=device, seed=seed, batched=transform if batched else None
    )
