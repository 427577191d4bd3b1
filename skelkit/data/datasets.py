"""Dataset definitions: raw layout, class names, official splits, reference sample order.

Interface used by ``skelkit preprocess`` (the store) and ``skelkit synth``::

    info = get_dataset_info("ntu120")
    sources = info.discover([raw_dir_1, raw_dir_2])   # list[RawSource], picklable
    for source in sources:                             # e.g. in worker processes
        for sample in info.read(source):               # list[RawSample]
            processed = recipe.process(sample)         # skelkit.data.recipes
    splits = info.assign_splits(samples)               # {"xsub": {"train": idx, "test": idx}}

* ``info.name``, ``info.class_names``, ``info.splits`` (split -> parts, e.g.
  ``{"xsub": ("train", "test")}``), ``info.default_recipe``.
* ``discover(raw_dirs)`` finds every raw source below the given folders (searched
  recursively) and raises :class:`~skelkit.errors.DataError` for a folder that is missing or
  holds no raw file of the dataset. NTU: one source per ``.skeleton`` file, sorted by name;
  the official samples with missing skeletons (302 for NTU-60, 535 for NTU-120) are left out
  as every reference pipeline does; NTU-60 keeps setups S001-S017 only, so the NTU-120
  folders can be passed as they are. PKU-MMD: one source per video (skeleton + label file),
  the split files are read here and each source's ``meta`` says its part in every split.
* ``read(source)`` parses one source. NTU: one :class:`RawSample` whose ``data`` is the
  :class:`~skelkit.data.ntu_format.SkeletonFile`. PKU-MMD: one :class:`RawSample` per label
  row, with MAMP's conventions (``data`` = float64 ``frames[start:end]`` of shape (T, 150),
  name ``<video>_<row>``, label ``action_id - 1``); ``read_untrimmed(source)`` gives the
  whole video with per-frame labels for detection.
* ``assign_splits(samples)`` takes the samples that were kept (objects with ``.name`` and
  ``.meta``, e.g. :class:`RawSample` or a recipe's ``ProcessedSample``) and returns, per split
  and part, the indices into ``samples`` in the reference pipeline's order: CTR-GCN/MAMP
  group the name-sorted samples by ID in the order of the official ID list (all P001
  samples, then P002, P004 ...); PKU-MMD is ordered by video name and row (MAMP walks an
  unsorted ``os.listdir``, which no tool can reproduce).

Every ``RawSample.meta`` of a dataset has the same keys (they become HDF5 columns). NTU:
``setup, camera, subject, replication, action``. PKU-MMD: ``video, view, subject (0 when
unknown, Phase I), start, end, confidence, row`` plus ``split_<split>`` = ``"train"``/``"test"``.

The PKU-MMD class names follow the dataset's action id order (alphabetical); Phase II uses
the same ids (41 of the 51), which is why MAMP one-hot encodes it with 51 classes.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from skelkit.errors import ConfigError, DataError

NTU_SUFFIX = ".skeleton"
_NTU_NAME = re.compile(r"^S\d{3}C\d{3}P\d{3}R\d{3}A\d{3}$")

#: NTU-60 cross-subject training subjects (the test subjects are the other 20 of 1..40).
NTU60_XSUB_TRAIN = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
#: NTU-120 cross-subject training subjects (the test subjects are the other 53 of 1..106).
NTU120_XSUB_TRAIN = (
    *NTU60_XSUB_TRAIN,
    45, 46, 47, 49, 50, 52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85,
    86, 89, 91, 92, 93, 94, 95, 97, 98, 100, 103,
)  # fmt: skip

#: PKU-MMD split files, by phase and split, in the names the distributions use.
PKU_SPLIT_FILES: dict[int, dict[str, tuple[str, ...]]] = {
    1: {
        "xsub": ("cross-subject.txt", "cross_subject.txt"),
        "xview": ("cross-view.txt", "cross_view.txt"),
    },
    2: {"xsub": ("cross_subject_v2.txt",), "xview": ("cross_view_v2.txt",)},
}  # fmt: skip


@dataclass(frozen=True)
class RawSource:
    """One unit of raw input: an NTU ``.skeleton`` file or a PKU-MMD video.

    Attributes:
        name: the sample name (NTU) or the video name (PKU-MMD).
        paths: the files to read (NTU: the skeleton file; PKU: skeleton file, label file).
        meta: what is known before reading (PKU: the video's part in every split).
        contents: the bytes of ``paths`` when the caller has read them already
            (preprocessing does, for the raw fingerprint); readers use them instead of
            reading the files again. Empty: read the files.
    """

    name: str
    paths: tuple[Path, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    contents: tuple[bytes, ...] = field(default=(), repr=False)


@dataclass(frozen=True, eq=False)
class RawSample:
    """A parsed raw sample, before any recipe.

    Attributes:
        name: unique sample name.
        label: 0-based class label.
        dataset: the dataset name (``ntu60``, ``pkummd1`` ...).
        data: NTU: the :class:`~skelkit.data.ntu_format.SkeletonFile`; PKU-MMD: float64
            ``(T, 150)`` frames of the instance (person-major, joint, xyz).
        meta: metadata columns (see the module docstring).
        source: the file the sample was read from (for messages).
    """

    name: str
    label: int
    dataset: str
    data: Any
    meta: Mapping[str, int | str]
    source: Path


@dataclass(frozen=True, eq=False)
class UntrimmedSequence:
    """A whole PKU-MMD video with per-frame labels (for temporal detection).

    Attributes:
        video: the video name.
        frames: float32 ``(F, 2, 25, 3)``.
        frame_labels: int16 ``(F,)``, the 0-based action label of every frame, -1 for
            background (a frame in several instances keeps the label of the later row).
        segments: int64 ``(K, 3)`` rows ``(label, start, end)`` with ``end`` exclusive.
    """

    video: str
    frames: np.ndarray
    frame_labels: np.ndarray
    segments: np.ndarray


class Named(Protocol):
    """Anything with a sample ``name`` and ``meta`` (RawSample, ProcessedSample)."""

    @property
    def name(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...


def _resource_lines(filename: str) -> list[str]:
    text = (
        resources.files("skelkit.data").joinpath("resources").joinpath(filename).read_text("utf-8")
    )
    return [line.strip() for line in text.splitlines()]


@cache
def missing_skeletons(dataset: str) -> frozenset[str]:
    """The official names of samples with missing or incomplete skeletons (NTU only).

    Read from the lists shipped in ``skelkit/data/resources`` (302 names for ``ntu60``, 535
    for ``ntu120``); header lines and anything else that is not a sample name are skipped.
    """
    lines = _resource_lines(f"{dataset}_missing_skeletons.txt")
    return frozenset(line for line in lines if _NTU_NAME.match(line))


@cache
def _class_names(filename: str, count: int) -> tuple[str, ...]:
    names = tuple(line for line in _resource_lines(filename) if line)
    return names[:count]


def _files_below(folder: Path, suffix: str) -> list[Path]:
    """The files below ``folder`` (following linked folders, each once) whose names end with
    ``suffix``, sorted by their path text."""
    found: list[str] = []
    seen: set[str] = set()
    for root, dirs, names in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a link back up the tree
            dirs.clear()
            continue
        seen.add(real)
        found.extend(os.path.join(root, name) for name in names if name.endswith(suffix))
    return [Path(path) for path in sorted(found)]


def _check_dirs(dataset: str, raw_dirs: Sequence[str | Path]) -> list[Path]:
    if not raw_dirs:
        raise DataError(f"{dataset}: no raw folder given; pass --raw DIR (several allowed)")
    dirs = [Path(d) for d in raw_dirs]
    for d in dirs:
        if not d.is_dir():
            raise DataError(f"{d}: raw folder for {dataset} does not exist or is not a folder")
    return dirs


class DatasetInfo(ABC):
    """Base of the dataset definitions (see the module docstring for the interface)."""

    name: str
    class_names: tuple[str, ...]
    splits: Mapping[str, tuple[str, ...]]
    default_recipe: str = "ctrgcn"

    @abstractmethod
    def discover(self, raw_dirs: Sequence[str | Path]) -> list[RawSource]:
        """Find every raw source below ``raw_dirs``."""

    @abstractmethod
    def read(self, source: RawSource) -> list[RawSample]:
        """Parse one raw source into samples."""

    @abstractmethod
    def assign_splits(self, samples: Sequence[Named]) -> dict[str, dict[str, np.ndarray]]:
        """Indices into ``samples`` per split and part, in the reference order."""

    @property
    def num_classes(self) -> int:
        """The number of classes (the length of :attr:`class_names`)."""
        return len(self.class_names)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# -- NTU RGB+D ---------------------------------------------------------------------------------


class NtuDataset(DatasetInfo):
    """NTU RGB+D 60 or 120 (``.skeleton`` files, possibly spread over several folders)."""

    def __init__(self, name: str) -> None:
        if name not in ("ntu60", "ntu120"):
            raise ValueError(f"unknown NTU dataset {name!r}")
        self.name = name
        self.max_setup = 17 if name == "ntu60" else 32
        self.class_names = _class_names("ntu120_classes.txt", 60 if name == "ntu60" else 120)
        self.splits = {
            "xsub": ("train", "test"),
            ("xview" if name == "ntu60" else "xset"): ("train", "test"),
        }

    def discover(
        self, raw_dirs: Sequence[str | Path], *, include_missing: bool = False
    ) -> list[RawSource]:
        """Find the ``.skeleton`` files below ``raw_dirs``, sorted by sample name.

        Files of other setups (S018+ for NTU-60) and, unless ``include_missing``, the
        official samples with missing skeletons are left out. A file whose name is not an
        NTU sample name is kept: reading it raises the DataError that reports it.

        Raises:
            DataError: a folder is missing, holds no ``.skeleton`` file, or two folders hold
                the same sample.
        """
        from skelkit.data.ntu_format import parse_ntu_name

        missing = frozenset() if include_missing else missing_skeletons(self.name)
        found: dict[str, Path] = {}
        for folder in _check_dirs(self.name, raw_dirs):
            files = _files_below(folder, NTU_SUFFIX)
            if not files:
                raise DataError(
                    f"{folder}: no .skeleton file found for {self.name}; pass the folder "
                    "extracted from nturgbd_skeletons_s001_to_s017.zip (NTU-120 also the "
                    "s018_to_s032 one)"
                )
            for path in files:
                name = path.name[: -len(NTU_SUFFIX)]
                if _NTU_NAME.match(name):
                    fields = parse_ntu_name(name)
                    if fields.setup > self.max_setup or fields.action > len(self.class_names):
                        continue
                    if name in missing:
                        continue
                if name in found:
                    raise DataError(
                        f"{path}: sample {name} is also at {found[name]}; pass each raw folder "
                        "once and remove duplicate copies"
                    )
                found[name] = path
        if not found:
            raise DataError(
                f"{', '.join(map(str, raw_dirs))}: no {self.name} sample (setups S001-"
                f"S{self.max_setup:03d}) found; pass the folder of nturgbd_skeletons_s001_to_s017"
            )
        return [RawSource(name, (found[name],)) for name in sorted(found)]

    def read(self, source: RawSource) -> list[RawSample]:
        """Parse one ``.skeleton`` file (raises DataError naming file and line)."""
        from skelkit.data.ntu_format import parse_ntu_name, read_skeleton_file

        path = source.paths[0]
        fields = parse_ntu_name(path.name.removesuffix(".skeleton"), str(path))
        data = source.contents[0] if source.contents else None
        skeleton = read_skeleton_file(path, data=data, check_name=False)
        meta = {
            "setup": fields.setup,
            "camera": fields.camera,
            "subject": fields.subject,
            "replication": fields.replication,
            "action": fields.action,
        }
        return [RawSample(skeleton.name, fields.label, self.name, skeleton, meta, path)]

    def split_ids(self, split: str) -> tuple[str, tuple[int, ...], tuple[int, ...]]:
        """The name field a split is defined on and its train / test ID lists, in order."""
        if split == "xsub":
            train = NTU60_XSUB_TRAIN if self.name == "ntu60" else NTU120_XSUB_TRAIN
            last = 40 if self.name == "ntu60" else 106
            return "subject", train, tuple(i for i in range(1, last + 1) if i not in train)
        if split == "xview" and self.name == "ntu60":
            return "camera", (2, 3), (1,)
        if split == "xset" and self.name == "ntu120":
            return "setup", tuple(range(2, 33, 2)), tuple(range(1, 33, 2))
        raise KeyError(split)

    def assign_splits(self, samples: Sequence[Named]) -> dict[str, dict[str, np.ndarray]]:
        """Group the name-sorted samples by ID in official-list order (CTR-GCN/MAMP order)."""
        from skelkit.data.ntu_format import parse_ntu_name

        order = sorted(range(len(samples)), key=lambda i: samples[i].name)
        fields = [parse_ntu_name(samples[i].name) for i in order]
        result: dict[str, dict[str, np.ndarray]] = {}
        for split, parts in self.splits.items():
            key, train_ids, test_ids = self.split_ids(split)
            result[split] = {}
            for part, ids in zip(parts, (train_ids, test_ids), strict=True):
                by_id: dict[int, list[int]] = {i: [] for i in ids}
                for index, f in zip(order, fields, strict=True):
                    group = by_id.get(getattr(f, key))
                    if group is not None:
                        group.append(index)
                flat = [index for i in ids for index in by_id[i]]
                result[split][part] = np.asarray(flat, dtype=np.int64)
        return result


# -- PKU-MMD ------------------------------------------------------------------------------------


class PkuDataset(DatasetInfo):
    """PKU-MMD Phase I (``pkummd1``) or Phase II (``pkummd2``): untrimmed videos + labels."""

    def __init__(self, name: str) -> None:
        if name not in ("pkummd1", "pkummd2"):
            raise ValueError(f"unknown PKU-MMD dataset {name!r}")
        self.name = name
        self.phase = 1 if name == "pkummd1" else 2
        self.class_names = _class_names("pkummd_classes.txt", 51)
        self.splits = {"xsub": ("train", "test"), "xview": ("train", "test")}

    def _find_split_files(self, dirs: Sequence[Path]) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for split, names in PKU_SPLIT_FILES[self.phase].items():
            for folder in dirs:
                for candidate in names:
                    hits = sorted(folder.rglob(candidate))
                    if hits and split not in found:
                        found[split] = hits[0]
            if split not in found:
                raise DataError(
                    f"{', '.join(map(str, dirs))}: no {' or '.join(names)} split file found "
                    f"for {self.name}; put the official split files in a --raw folder"
                )
        return found

    def discover(self, raw_dirs: Sequence[str | Path]) -> list[RawSource]:
        """Pair every skeleton file with its label file and read the split files.

        A ``.txt`` file named like a video of this phase is a label file when a folder on its
        path (below the raw folder) has "label" in its name, and a skeleton file otherwise.

        Raises:
            DataError: a folder is missing or holds no skeleton file, a skeleton file has no
                label file, a split file is missing or malformed.
        """
        from skelkit.data.pku_format import VIDEO_PATTERN, parse_pku_video_name, read_pku_split

        dirs = _check_dirs(self.name, raw_dirs)
        skeletons: dict[str, Path] = {}
        labels: dict[str, Path] = {}
        for folder in dirs:
            count = 0
            for path in sorted(folder.rglob("*.txt")):
                video = path.stem
                if (
                    not VIDEO_PATTERN.match(video)
                    or parse_pku_video_name(video).phase != self.phase
                ):
                    continue
                parents = path.relative_to(folder).parts[:-1]
                is_label = any("label" in part.lower() for part in parents)
                table = labels if is_label else skeletons
                if video in table:
                    raise DataError(f"{path}: video {video} is also at {table[video]}")
                table[video] = path
                count += not is_label
            if count == 0:
                raise DataError(
                    f"{folder}: no PKU-MMD Phase {self.phase} skeleton file (like "
                    f"{'0002-L' if self.phase == 1 else 'A01N01-L'}.txt) found for {self.name}"
                )
        split_parts: dict[str, dict[str, str]] = {video: {} for video in skeletons}
        for split, path in self._find_split_files(dirs).items():
            train = set(read_pku_split(path).train)
            for video in skeletons:
                # MAMP: a video is train when listed as training, test otherwise.
                split_parts[video][split] = "train" if video in train else "test"
        sources = []
        for video in sorted(skeletons):
            if video not in labels:
                raise DataError(
                    f"{skeletons[video]}: no label file {video}.txt found in a label folder"
                )
            meta = {f"split_{s}": part for s, part in sorted(split_parts[video].items())}
            sources.append(RawSource(video, (skeletons[video], labels[video]), meta))
        return sources

    def _read_video(self, source: RawSource) -> tuple[np.ndarray, list[Any]]:
        from skelkit.data.pku_format import (
            check_labels_in_sequence,
            read_pku_labels,
            read_pku_skeleton,
        )

        skeleton_path, label_path = source.paths
        frames = read_pku_skeleton(skeleton_path)
        rows = read_pku_labels(label_path)
        check_labels_in_sequence(rows, len(frames), label_path)
        return frames, rows

    def read(self, source: RawSource) -> list[RawSample]:
        """One sample per label row: float64 ``frames[start:end]``, label ``action_id - 1``."""
        from skelkit.data.pku_format import parse_pku_video_name

        frames, rows = self._read_video(source)
        video = parse_pku_video_name(source.name)
        samples = []
        for row, label in enumerate(rows):
            meta: dict[str, int | str] = {
                "video": source.name,
                "view": video.view,
                "subject": video.subject or 0,
                "start": label.start,
                "end": label.end,
                "confidence": label.confidence,
                "row": row,
            }
            meta.update(source.meta)
            samples.append(
                RawSample(
                    f"{source.name}_{row}",
                    label.action - 1,
                    self.name,
                    frames[label.start : label.end],
                    meta,
                    source.paths[1],
                )
            )
        return samples

    def read_untrimmed(self, source: RawSource) -> UntrimmedSequence:
        """The whole video with per-frame labels (-1 = background) for detection."""
        frames, rows = self._read_video(source)
        frame_labels = np.full(len(frames), -1, dtype=np.int16)
        for label in rows:
            frame_labels[label.start : label.end] = label.action - 1
        segments = np.array([(r.action - 1, r.start, r.end) for r in rows], dtype=np.int64).reshape(
            -1, 3
        )
        return UntrimmedSequence(
            source.name,
            frames.astype(np.float32).reshape(len(frames), 2, 25, 3),
            frame_labels,
            segments,
        )

    def assign_splits(self, samples: Sequence[Named]) -> dict[str, dict[str, np.ndarray]]:
        """Per split, train / test indices ordered by (video, row)."""
        order = sorted(
            range(len(samples)),
            key=lambda i: (str(samples[i].meta["video"]), int(samples[i].meta["row"])),
        )
        result: dict[str, dict[str, np.ndarray]] = {}
        for split, parts in self.splits.items():
            key = f"split_{split}"
            result[split] = {
                part: np.asarray([i for i in order if samples[i].meta[key] == part], dtype=np.int64)
                for part in parts
            }
        return result


# -- registry entry points ------------------------------------------------------------------------


def ntu60() -> NtuDataset:
    """NTU RGB+D 60: 60 classes, xsub / xview."""
    return NtuDataset("ntu60")


def ntu120() -> NtuDataset:
    """NTU RGB+D 120: 120 classes, xsub / xset."""
    return NtuDataset("ntu120")


def pkummd1() -> PkuDataset:
    """PKU-MMD Phase I: 51 classes, xsub / xview."""
    return PkuDataset("pkummd1")


def pkummd2() -> PkuDataset:
    """PKU-MMD Phase II: 41 of the 51 Phase-I classes, xsub / xview."""
    return PkuDataset("pkummd2")


_FACTORIES = {"ntu60": ntu60, "ntu120": ntu120, "pkummd1": pkummd1, "pkummd2": pkummd2}


def dataset_names() -> tuple[str, ...]:
    """The names of the built-in datasets."""
    return tuple(_FACTORIES)


def get_dataset_info(name: str) -> DatasetInfo:
    """The built-in dataset called ``name`` (plugins' datasets come from the registry).

    Raises:
        ConfigError: unknown name; the message lists the known ones.
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigError(f"unknown dataset {name!r}; built-in datasets: {', '.join(_FACTORIES)}")
    return factory()
