"""What a skelkit store holds (``skelkit inspect``): splits, classes, lengths, recipe, skips."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from skelkit.data.store import SkeletonStore, open_store
from skelkit.errors import DataError


@dataclass(frozen=True)
class ClassCount:
    """Samples of one class in the whole file."""

    label: int
    name: str
    count: int


@dataclass(frozen=True)
class LengthStats:
    """Statistics of the stored sequence lengths (frames)."""

    min: int
    max: int
    mean: float
    median: float
    p5: float
    p95: float

    @classmethod
    def of(cls, lengths: np.ndarray) -> LengthStats:
        """Statistics of ``lengths`` (all zeros for an empty array)."""
        if len(lengths) == 0:
            return cls(0, 0, 0.0, 0.0, 0.0, 0.0)
        p5, median, p95 = np.percentile(lengths, [5, 50, 95]).tolist()
        return cls(int(lengths.min()), int(lengths.max()), float(lengths.mean()), median, p5, p95)


@dataclass(frozen=True)
class StoreSummary:
    """Everything ``skelkit inspect`` reports about a store."""

    path: Path
    dataset: str
    recipe: str
    recipe_constants: dict[str, Any]
    skelkit_version: str
    raw_fingerprint: str
    num_samples: int
    num_frames: int
    frame_shape: tuple[int, int, int]
    splits: dict[str, dict[str, int]]
    classes: tuple[ClassCount, ...]
    num_class_names: int
    lengths: LengthStats
    meta_columns: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``--json``."""
        return {
            "path": str(self.path),
            "dataset": self.dataset,
            "recipe": self.recipe,
            "recipe_constants": self.recipe_constants,
            "skelkit_version": self.skelkit_version,
            "raw_fingerprint": self.raw_fingerprint,
            "num_samples": self.num_samples,
            "num_frames": self.num_frames,
            "frame_shape": list(self.frame_shape),
            "splits": self.splits,
            "num_classes": self.num_class_names,
            "classes": [{"label": c.label, "name": c.name, "count": c.count} for c in self.classes],
            "lengths": {
                "min": self.lengths.min,
                "max": self.lengths.max,
                "mean": round(self.lengths.mean, 3),
                "median": self.lengths.median,
                "p5": self.lengths.p5,
                "p95": self.lengths.p95,
            },
            "meta_columns": list(self.meta_columns),
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
        }


def summarize(store: SkeletonStore) -> StoreSummary:
    """Summarise an open store (reads only the per-sample columns, never the frames)."""
    splits = {
        split: {part: len(store.split_indices(split, part)) for part in sorted(parts)}
        for split, parts in sorted(store.splits.items())
    }
    labels, counts = np.unique(store.labels, return_counts=True)
    names = store.class_names
    classes = tuple(
        ClassCount(int(label), names[label] if 0 <= label < len(names) else "", int(count))
        for label, count in zip(labels.tolist(), counts.tolist(), strict=True)
    )
    return StoreSummary(
        path=store.path,
        dataset=store.dataset,
        recipe=store.recipe,
        recipe_constants=dict(store.recipe_constants),
        skelkit_version=store.skelkit_version,
        raw_fingerprint=store.raw_fingerprint,
        num_samples=store.num_samples,
        num_frames=int(store.offsets[-1]) if len(store.offsets) else 0,
        frame_shape=store.frame_shape,
        splits=splits,
        classes=classes,
        num_class_names=len(names),
        lengths=LengthStats.of(np.asarray(store.lengths)),
        meta_columns=store.meta_columns,
        skipped=tuple((s.source, s.reason) for s in store.skipped),
    )


def inspect_store(path: str | Path) -> StoreSummary:
    """Open the store at ``path`` and summarise it (DataError if it is not a store)."""
    with open_store(path) as store:
        return summarize(store)


def find_sample(store: SkeletonStore, name: str) -> int:
    """The index of sample ``name``; DataError with close matches if there is none."""
    names = store.names
    try:
        return names.index(name)
    except ValueError:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(
            f"{store.path} has no sample named {name!r}.{hint} "
            "`skelkit inspect FILE --json` lists the splits; names are in file order"
        ) from None
