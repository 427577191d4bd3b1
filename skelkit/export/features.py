"""Feature extraction (``skelkit embed``): a checkpoint's pooled features for a split part.

Every sample of ``split/part`` goes through the checkpoint's deterministic test transform
and the encoder; the feature is the encoder output averaged over persons, time and joints
(or the encoder's own pooled output, PCM3's GRU), exactly what the linear probe and kNN
read. The encoder is the one the method exposes for evaluation (its ``encoder``, or e.g.
Skeleton2vec's EMA teacher, see :func:`skelkit.train.checkpoint.load_encoder`). Rows follow
the order of the split's index array in the store.

Output by suffix:

* ``.h5`` / ``.hdf5``: ``features`` float32 (N, D), ``labels`` int64 (N), ``names``
  (fixed-length bytes), ``index`` int64 (N, positions in the store) and attributes
  (checkpoint, method, encoder, dataset, recipe, split, part, class names, version);
* ``.npy``: the ``features`` array only.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

import skelkit
from skelkit.errors import ConfigError
from skelkit.export.base import atomic_output
from skelkit.export.source import check_has_encoder, check_out_path

#: Output suffixes and their format.
SUFFIXES = {".h5": "hdf5", ".hdf5": "hdf5", ".npy": "npy"}
PRECISIONS = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class EmbedResult:
    """What ``skelkit embed`` reports."""

    out: Path
    samples: int
    dim: int
    device: str
    seconds: float
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain-data form for ``--json``."""
        return {
            "out": str(self.out),
            "samples": self.samples,
            "dim": self.dim,
            "device": self.device,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
        }


def output_format(out: Path) -> str:
    """``hdf5`` or ``npy`` from the suffix of ``out`` (ConfigError otherwise)."""
    fmt = SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(
            f"--out '{out}': unknown file type '{out.suffix}'; use .h5 (features, labels, "
            "names) or .npy (features only)"
        )
    return fmt


def embed_checkpoint(
    checkpoint: str | os.PathLike[str],
    data: str | os.PathLike[str],
    split: str,
    part: str,
    out: str | os.PathLike[str],
    *,
    batch_size: int = 64,
    device: str = "auto",
    precision: str = "fp32",
    num_workers: int = 0,
    encoder: str | None = None,
) -> EmbedResult:
    """Write the pooled features of ``data``'s ``split/part`` under ``checkpoint``'s encoder.

    ``device`` is ``auto``, ``cpu`` or ``cuda``; ``precision`` ``fp32``, ``bf16`` or ``fp16``
    (autocast; features are stored as float32). ``encoder`` is the encoder's attribute path
    in the method (default: its downstream encoder; Skeleton2vec's student is ``encoder``).
    """
    from skelkit.data.loader import SkeletonDataset, collate
    from skelkit.evaluate.data import CLIP_EPOCH
    from skelkit.evaluate.model import pooled
    from skelkit.train.checkpoint import load_checkpoint, load_encoder_at
    from skelkit.train.data import build_transform, with_default_transforms
    from skelkit.train.distributed import detect, select_device
    from skelkit.train.loop import check_precision
    from skelkit.train.step import autocast_context

    target = Path(out)
    fmt = output_format(target)
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision}")
    ckpt = load_checkpoint(checkpoint)
    check_has_encoder(ckpt, checkpoint)
    config = with_default_transforms(ckpt["config"])
    dataset = SkeletonDataset(
        data, split, part, transform=build_transform(config, "test_transform"), seed=0
    )
    dataset.set_epoch(CLIP_EPOCH)
    check_out_path(target)
    run_device = select_device(device, detect())
    check_precision(precision, run_device)
    loaded, weights = load_encoder_at(ckpt, encoder or None)
    model = loaded.to(run_device).eval()
    notes = _recipe_warnings(ckpt, dataset.recipe, data)
    start = time.perf_counter()
    batches = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=run_device.type == "cuda",
    )
    rows: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    with torch.no_grad():
        for batch in batches:
            x = batch["x"].to(run_device, non_blocking=True)
            with autocast_context(precision, run_device):
                features = pooled(model, model(x))
            rows.append(features.float().cpu().numpy())
            labels.append(batch["labels"].numpy())
    dim = int(getattr(model, "feature_dim", rows[0].shape[1] if rows else 0))
    matrix = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    seconds = time.perf_counter() - start
    if fmt == "npy":
        _write_npy(target, matrix)
    else:
        attrs = _attributes(ckpt, checkpoint, dataset, weights)
        label_array = np.concatenate(labels) if labels else np.zeros(0, np.int64)
        _write_hdf5(target, matrix, label_array.astype(np.int64), dataset, attrs)
    return EmbedResult(
        out=target,
        samples=int(matrix.shape[0]),
        dim=int(matrix.shape[1]),
        device=str(run_device),
        seconds=seconds,
        warnings=notes,
    )


def _recipe_warnings(
    ckpt: dict[str, Any], recipe: str, data: str | os.PathLike[str]
) -> tuple[str, ...]:
    trained = ckpt.get("recipe") or ckpt["config"].get("recipe")
    if trained and trained != recipe:
        return (
            f"{data} was preprocessed with recipe '{recipe}' but the encoder was trained on "
            f"'{trained}' data; the features will not match the paper's",
        )
    return ()


def _attributes(
    ckpt: dict[str, Any], checkpoint: str | os.PathLike[str], dataset: Any, weights: str
) -> dict[str, Any]:
    config = ckpt["config"]
    return {
        "skelkit_version": skelkit.__version__,
        "checkpoint": Path(checkpoint).name,
        "method": str(config.get("method", {}).get("name", "")),
        "weights": weights,
        "encoder": json.dumps(config.get("encoder", {}), sort_keys=True),
        "test_transform": json.dumps(config.get("test_transform", {}), sort_keys=True),
        "dataset": dataset.dataset_name,
        "recipe": dataset.recipe,
        "split": dataset.split,
        "part": dataset.part,
        "class_names": list(dataset.class_names),
        "pooling": "mean over persons, time and joints (or the encoder's own pooled output)",
    }


def _write_npy(target: Path, matrix: np.ndarray) -> None:
    with atomic_output(target) as tmp, tmp.open("wb") as handle:
        np.save(handle, matrix)


def _write_hdf5(
    target: Path, matrix: np.ndarray, labels: np.ndarray, dataset: Any, attrs: dict[str, Any]
) -> None:
    import h5py

    from skelkit.data.store import open_store

    with open_store(dataset.path, locking=dataset.locking) as store:
        all_names = store.names
    names = [all_names[int(i)].encode("utf-8") for i in dataset.indices]
    width = max((len(n) for n in names), default=1)
    with atomic_output(target) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=matrix)
        f.create_dataset("labels", data=labels)
        f.create_dataset("names", data=np.array(names, dtype=f"S{max(width, 1)}"))
        f.create_dataset("index", data=np.asarray(dataset.indices, dtype=np.int64))
        for key, value in attrs.items():
            f.attrs[key] = value
