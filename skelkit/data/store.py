"""The skelkit HDF5 store: one file per dataset and recipe holding every split.

Layout::

    frames              float32 (sum of lengths, M, V, C), contiguous, uncompressed by default
    offsets             int64 (N + 1): sample i is frames[offsets[i]:offsets[i + 1]]
    lengths             int32 (N)
    labels              int32 (N), 0-based class index
    names               fixed-length bytes (N)
    meta/<column>       one column per metadata key (int64, or fixed-length bytes)
    splits/<split>/<part>  int64 sample indices in the reference pipeline's order
    skipped/sources, skipped/reasons  problems met by ``--on-error skip`` (possibly empty)

File attributes: ``skelkit_format`` (the layout version), ``skelkit_version``, ``dataset``,
``recipe``, ``recipe_constants`` (JSON), ``class_names``, ``raw_fingerprint``,
``num_samples``, ``num_skipped``, ``compression``.

Writing streams: frames go to a raw side file as they arrive, so memory does not grow with
the dataset (the per-sample scalars, a few dozen bytes each, are kept in compact arrays).
:meth:`StoreWriter.commit` builds the HDF5 file under a temporary name next to the output
and renames it into place; on any exception (Ctrl-C included) :meth:`StoreWriter.abort`
removes the temporary files, so a file at the final path is always complete.
"""

from __future__ import annotations

import json
import os
import uuid
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from skelkit.errors import DataError

#: Version of the file layout; readers refuse files from a newer layout.
FORMAT_VERSION = 1
#: The attribute that marks a file as a skelkit store.
FORMAT_ATTR = "skelkit_format"
#: Compression choices of :class:`StoreWriter` (``gzip`` takes an optional ``:level``).
COMPRESSIONS = ("none", "lzf", "gzip")
#: Frames copied from the side file into the HDF5 file per block (about 10 MB).
_COPY_FRAMES = 1 << 14
#: Frames per chunk when ``frames`` is compressed (about 600 KB for M=2, V=25, C=3).
_CHUNK_FRAMES = 1024


@dataclass(frozen=True)
class SkippedSample:
    """A raw sample (or whole source file) left out by ``--on-error skip``, and why."""

    source: str
    reason: str


def parse_compression(spec: str) -> tuple[str | None, int | None]:
    """Turn ``none``, ``lzf``, ``gzip`` or ``gzip:LEVEL`` into h5py's (compression, options)."""
    name, _, level = spec.partition(":")
    if name not in COMPRESSIONS or (level and name != "gzip"):
        raise DataError(
            f"unknown compression {spec!r}; use one of none, lzf, gzip or gzip:LEVEL (0-9)"
        )
    if name == "none":
        return None, None
    if name == "lzf":
        return "lzf", None
    if not level:
        return "gzip", 4
    if not level.isdigit() or not 0 <= int(level) <= 9:
        raise DataError(f"gzip level must be 0-9, got {level!r} in compression {spec!r}")
    return "gzip", int(level)


class StoreWriter:
    """Stream processed samples into a new skelkit store.

    Use as a context manager: leaving the block normally commits (builds the file and
    renames it to ``path``), leaving it with an exception aborts (removes every temporary
    file and leaves ``path`` untouched)::

        with StoreWriter(out, dataset="ntu60", recipe="ctrgcn", ...) as writer:
            for sample in samples:
                writer.append(sample.name, sample.frames, sample.label, sample.meta)
            writer.set_splits({"xsub": {"train": [...], "test": [...]}})
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        dataset: str,
        recipe: str,
        recipe_constants: Mapping[str, Any] | None = None,
        class_names: Sequence[str] = (),
        raw_fingerprint: str = "",
        num_persons: int = 2,
        num_joints: int = 25,
        num_channels: int = 3,
        compression: str = "none",
        attrs: Mapping[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise DataError(f"output {self.path} is a directory; give a file name ending in .h5")
        parent = self.path.parent
        if not parent.is_dir():
            raise DataError(f"output folder {parent} does not exist; create it first")
        if not os.access(parent, os.W_OK):
            raise DataError(f"output folder {parent} is not writable; choose another --out")
        self._compression = parse_compression(compression)
        self._compression_spec = compression
        self._attrs: dict[str, Any] = {
            "dataset": dataset,
            "recipe": recipe,
            "recipe_constants": json.dumps(dict(recipe_constants or {}), sort_keys=True),
            "class_names": list(class_names),
            "raw_fingerprint": raw_fingerprint,
            **dict(attrs or {}),
        }
        self._frame_shape = (num_persons, num_joints, num_channels)
        token = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmp_path = parent / f".{self.path.name}.{token}.tmp"
        self._side_path = parent / f".{self.path.name}.{token}.frames"
        # Opened on the first append, so that a writer interrupted before its ``with`` block
        # starts leaves nothing behind.
        self._side: BinaryIO | None = None
        self._lengths = array("q")
        self._labels = array("q")
        self._names: list[bytes] = []
        self._meta: dict[str, list[int | str]] = {}
        self._splits: dict[str, dict[str, np.ndarray]] = {}
        self._skipped: list[SkippedSample] = []
        self._total_frames = 0
        self._done = False

    # -- filling ---------------------------------------------------------------------------

    @property
    def num_samples(self) -> int:
        """Samples appended so far."""
        return len(self._lengths)

    @property
    def num_frames(self) -> int:
        """Frames appended so far (all samples)."""
        return self._total_frames

    @property
    def skipped(self) -> tuple[SkippedSample, ...]:
        """Problems recorded with :meth:`skip` so far."""
        return tuple(self._skipped)

    def set_attrs(self, **attrs: Any) -> None:
        """Set (or replace) file attributes, e.g. a ``raw_fingerprint`` known only at the end."""
        self._check_open()
        self._attrs.update(attrs)

    def append(
        self,
        name: str,
        frames: np.ndarray,
        label: int,
        meta: Mapping[str, int | str] | None = None,
    ) -> int:
        """Add one sample (``frames`` of shape (T, M, V, C)) and return its index.

        A sample with fewer persons than the file's M is zero-padded; every sample must
        have the same metadata keys as the first one.
        """
        self._check_open()
        frames = np.asarray(frames)
        m_file, v_file, c_file = self._frame_shape
        if (
            frames.ndim != 4
            or frames.shape[0] < 1
            or frames.shape[2:] != (v_file, c_file)
            or not 1 <= frames.shape[1] <= m_file
        ):
            raise DataError(
                f"sample {name!r}: frames have shape {frames.shape}, expected "
                f"(T>=1, M<={m_file}, {v_file}, {c_file})"
            )
        if frames.shape[1] < m_file:
            padded = np.zeros((frames.shape[0], *self._frame_shape), dtype=np.float32)
            padded[:, : frames.shape[1]] = frames
            frames = padded
        if self._side is None:
            self._side = open(self._side_path, "wb")  # noqa: SIM115 - closed by commit/abort
        self._side.write(np.ascontiguousarray(frames, dtype=np.float32).data.cast("B"))
        self._add_meta(name, dict(meta or {}))
        self._lengths.append(frames.shape[0])
        self._labels.append(int(label))
        self._names.append(name.encode("utf-8"))
        self._total_frames += frames.shape[0]
        return len(self._lengths) - 1

    def _add_meta(self, name: str, meta: dict[str, int | str]) -> None:
        if not self._lengths and not self._meta:
            self._meta = {key: [] for key in sorted(meta)}
        if set(meta) != set(self._meta):
            raise DataError(
                f"sample {name!r} has metadata keys {sorted(meta)}, but the first sample had "
                f"{sorted(self._meta)}; a recipe must give every sample the same keys"
            )
        for key, value in meta.items():
            self._meta[key].append(value)

    def skip(self, source: str, reason: str) -> None:
        """Record a sample or source file that was left out, and why."""
        self._check_open()
        self._skipped.append(SkippedSample(str(source), reason))

    def set_splits(self, splits: Mapping[str, Mapping[str, Sequence[int] | np.ndarray]]) -> None:
        """Set the ``splits/<split>/<part>`` index arrays (sample indices, in order)."""
        self._check_open()
        for split, parts in splits.items():
            for part, indices in parts.items():
                idx = np.asarray(indices, dtype=np.int64).reshape(-1)
                if idx.size and (idx.min() < 0 or idx.max() >= self.num_samples):
                    raise DataError(
                        f"split {split}/{part} refers to sample {int(idx.max())}, but only "
                        f"{self.num_samples} samples were written"
                    )
                self._splits.setdefault(split, {})[part] = idx

    # -- finishing -------------------------------------------------------------------------

    def commit(self) -> Path:
        """Build the HDF5 file and rename it to the output path; return that path."""
        self._check_open()
        import h5py

        try:
            self._close_side()
            with h5py.File(self._tmp_path, "w", libver="earliest") as f:
                offset = self._write_frames(f, h5py)
                self._write_columns(f, h5py)
                self._write_attrs(f, h5py)
            if offset is not None:
                self._copy_frames_to(offset)
            os.replace(self._tmp_path, self.path)
        except BaseException:
            self.abort()
            raise
        self._cleanup()
        self._done = True
        return self.path

    def abort(self) -> None:
        """Remove every temporary file; the output path is left untouched."""
        if self._done:
            return
        self._done = True
        self._close_side()
        self._cleanup()
        self._tmp_path.unlink(missing_ok=True)

    def _close_side(self) -> None:
        if self._side is not None:
            self._side.close()

    def _cleanup(self) -> None:
        self._side_path.unlink(missing_ok=True)

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("the store writer was already committed or aborted")

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            if not self._done:
                self.commit()
        else:
            self.abort()

    def _write_frames(self, f: Any, h5py: Any) -> int | None:
        """Create ``frames``; return the file offset to copy the raw frames to, if any.

        Uncompressed, the dataset is contiguous and allocated now without a fill, and the
        side file's bytes are copied to its offset after HDF5 has closed the file (a kernel
        copy, several times faster than writing through HDF5). Compressed, the frames are
        written through HDF5 here.
        """
        shape = (self._total_frames, *self._frame_shape)
        compression, level = self._compression
        if compression is None:
            if not self._total_frames:
                f.create_dataset("frames", shape=shape, dtype="<f4")
                return None
            plist = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            plist.set_layout(h5py.h5d.CONTIGUOUS)
            plist.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            plist.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
            space = h5py.h5s.create_simple(shape)
            dataset = h5py.h5d.create(f.id, b"frames", h5py.h5t.IEEE_F32LE, space, dcpl=plist)
            offset = dataset.get_offset()
            if offset is None:  # not reached: early allocation gives the data an address
                raise DataError(f"HDF5 did not allocate the frames of {self._tmp_path}")
            return int(offset)
        chunk = (max(1, min(_CHUNK_FRAMES, self._total_frames)), *self._frame_shape)
        dset = f.create_dataset(
            "frames",
            shape=shape,
            dtype="<f4",
            chunks=chunk,
            compression=compression,
            compression_opts=level,
            shuffle=True,
        )
        if not self._total_frames:
            return None
        # Plain reads into one reused buffer (a memory map would count every page of the
        # side file as resident memory until it is unmapped).
        buffer = np.empty((_COPY_FRAMES, *self._frame_shape), dtype="<f4")
        with open(self._side_path, "rb") as side:
            for start in range(0, self._total_frames, _COPY_FRAMES):
                count = min(_COPY_FRAMES, self._total_frames - start)
                view = buffer[:count]
                if side.readinto(view.data.cast("B")) != view.nbytes:
                    raise DataError(f"temporary file {self._side_path} was truncated")
                dset[start : start + count] = view
        return None

    def _copy_frames_to(self, offset: int) -> None:
        """Copy the side file's frames into the finished HDF5 file at ``offset``."""
        size = self._total_frames * int(np.prod(self._frame_shape)) * 4
        with open(self._side_path, "rb") as side, open(self._tmp_path, "r+b") as out:
            if side.seek(0, os.SEEK_END) != size:
                raise DataError(f"temporary file {self._side_path} was truncated")
            copied = 0
            if hasattr(os, "copy_file_range"):
                try:
                    while copied < size:
                        step = os.copy_file_range(
                            side.fileno(), out.fileno(), size - copied, copied, offset + copied
                        )
                        if step == 0:
                            break
                        copied += step
                except OSError:  # a file system without in-kernel copies
                    copied = 0
            if copied < size:  # the portable way: through a reused buffer
                buffer = bytearray(_COPY_FRAMES * 4 * int(np.prod(self._frame_shape)))
                side.seek(copied)
                out.seek(offset + copied)
                while copied < size:
                    count = side.readinto(buffer)
                    if not count:
                        raise DataError(f"temporary file {self._side_path} was truncated")
                    out.write(memoryview(buffer)[:count])
                    copied += count

    def _write_columns(self, f: Any, h5py: Any) -> None:
        lengths = np.frombuffer(self._lengths, dtype=np.int64) if self._lengths else np.zeros(0)
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        f.create_dataset("offsets", data=offsets)
        f.create_dataset("lengths", data=lengths.astype(np.int32))
        labels = np.frombuffer(self._labels, dtype=np.int64) if self._labels else np.zeros(0)
        f.create_dataset("labels", data=labels.astype(np.int32))
        f.create_dataset("names", data=_fixed_bytes(self._names))
        meta = f.create_group("meta")
        for key, values in self._meta.items():
            meta.create_dataset(key, data=_column(key, values))
        splits = f.create_group("splits")
        for split in sorted(self._splits):
            group = splits.create_group(split)
            for part in sorted(self._splits[split]):
                group.create_dataset(part, data=self._splits[split][part])
        skipped = f.create_group("skipped")
        skipped.create_dataset(
            "sources", data=[s.source for s in self._skipped], dtype=h5py.string_dtype()
        )
        skipped.create_dataset(
            "reasons", data=[s.reason for s in self._skipped], dtype=h5py.string_dtype()
        )

    def _write_attrs(self, f: Any, h5py: Any) -> None:
        from skelkit import __version__

        f.attrs[FORMAT_ATTR] = FORMAT_VERSION
        f.attrs["skelkit_version"] = __version__
        for key, value in self._attrs.items():
            if key == "class_names":
                f.attrs.create(key, list(value), dtype=h5py.string_dtype())
            else:
                f.attrs[key] = value
        f.attrs["num_samples"] = self.num_samples
        f.attrs["num_skipped"] = len(self._skipped)
        f.attrs["compression"] = self._compression_spec


def _fixed_bytes(values: Sequence[bytes]) -> np.ndarray:
    width = max((len(v) for v in values), default=1) or 1
    return np.array(list(values), dtype=f"S{width}")


def _column(key: str, values: Sequence[int | str]) -> np.ndarray:
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.int64)
    texts = [v for v in values if isinstance(v, str)]
    if len(texts) == len(values):
        return _fixed_bytes([v.encode("utf-8") for v in texts])
    raise DataError(f"metadata column {key!r} mixes types; use only int or only str values")


# -- reading -------------------------------------------------------------------------------


class SkeletonStore:
    """A read-only view of a skelkit store; open it with :func:`open_store`.

    The per-sample columns (offsets, lengths, labels) are read into memory on open; frames
    are read on demand by :meth:`read`, through a memory map when ``frames`` is contiguous
    and uncompressed (the default), else through h5py.
    """

    def __init__(self, path: Path, handle: Any) -> None:
        self.path = path
        self._file = handle
        attrs = handle.attrs
        self.dataset = str(attrs["dataset"])
        self.recipe = str(attrs["recipe"])
        self.recipe_constants: dict[str, Any] = json.loads(str(attrs["recipe_constants"]))
        self.class_names: tuple[str, ...] = tuple(
            _text(name) for name in attrs.get("class_names", [])
        )
        self.raw_fingerprint = str(attrs.get("raw_fingerprint", ""))
        self.skelkit_version = str(attrs.get("skelkit_version", ""))
        self.offsets: np.ndarray = handle["offsets"][()]
        self.lengths: np.ndarray = handle["lengths"][()]
        self.labels: np.ndarray = handle["labels"][()]
        self._frames = handle["frames"]
        self.frame_shape: tuple[int, int, int] = tuple(self._frames.shape[1:])
        self._memmap = _memmap_frames(path, self._frames)

    @property
    def num_samples(self) -> int:
        """Number of samples in the file (all splits)."""
        return len(self.lengths)

    @property
    def names(self) -> list[str]:
        """Sample names, in file order."""
        return [_text(n) for n in self._file["names"][()]]

    @property
    def meta_columns(self) -> tuple[str, ...]:
        """Names of the metadata columns."""
        return tuple(self._file["meta"].keys())

    def meta(self, column: str) -> np.ndarray:
        """One metadata column (int64, or bytes for text columns)."""
        if column not in self._file["meta"]:
            raise DataError(
                f"{self.path} has no metadata column {column!r}; available: "
                f"{', '.join(self.meta_columns) or '(none)'}"
            )
        return self._file["meta"][column][()]

    @property
    def skipped(self) -> tuple[SkippedSample, ...]:
        """Samples left out at preprocessing time, with their reasons."""
        group = self._file["skipped"]
        sources = [_text(s) for s in group["sources"][()]]
        reasons = [_text(r) for r in group["reasons"][()]]
        return tuple(SkippedSample(s, r) for s, r in zip(sources, reasons, strict=True))

    @property
    def splits(self) -> dict[str, tuple[str, ...]]:
        """Available splits and their parts, e.g. ``{"xsub": ("test", "train")}``."""
        group = self._file["splits"]
        return {split: tuple(group[split].keys()) for split in group}

    def split_indices(self, split: str, part: str) -> np.ndarray:
        """Sample indices of ``split/part`` in reference order; DataError if unknown."""
        available = self.splits
        if split not in available or part not in available[split]:
            listing = ", ".join(f"{s}/{p}" for s in available for p in available[s])
            raise DataError(
                f"{self.path} has no split {split}/{part}; available: {listing or '(none)'}"
            )
        return self._file["splits"][split][part][()]

    def read(self, index: int) -> np.ndarray:
        """Frames of sample ``index`` as a float32 array (T, M, V, C)."""
        start, stop = int(self.offsets[index]), int(self.offsets[index + 1])
        if self._memmap is not None:
            return np.array(self._memmap[start:stop])
        return self._frames[start:stop]

    def iter_runs(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, frames)`` for ``indices``, reading consecutive samples in one go."""
        order = np.sort(np.asarray(indices, dtype=np.int64))
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and order[j + 1] == order[j] + 1 and j - i < 4096:
                j += 1
            base = int(self.offsets[order[i]])
            block = self._read_range(base, int(self.offsets[order[j] + 1]))
            for k in range(i, j + 1):
                idx = int(order[k])
                yield idx, block[self.offsets[idx] - base : self.offsets[idx + 1] - base]
            i = j + 1

    def _read_range(self, start: int, stop: int) -> np.ndarray:
        if self._memmap is not None:
            return np.array(self._memmap[start:stop])
        return self._frames[start:stop]

    def close(self) -> None:
        """Close the file (and drop the memory map)."""
        self._memmap = None
        self._file.close()

    def __enter__(self) -> SkeletonStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_store(path: str | os.PathLike[str], *, locking: bool | None = None) -> SkeletonStore:
    """Open a skelkit store for reading, checking that it is one.

    ``locking=False`` disables HDF5 file locking (needed on NFS, Lustre and read-only
    mounts that fail with "unable to lock file"); None keeps HDF5's default (the
    ``HDF5_USE_FILE_LOCKING`` variable still applies). Raises DataError for a
    missing file, a file that is not HDF5, or an HDF5 file that skelkit did not write.
    """
    import h5py

    p = Path(path)
    if not p.exists():
        raise DataError(
            f"no such store: {p}; create it with `skelkit preprocess DATASET --raw DIR`"
        )
    if p.is_dir():
        raise DataError(f"{p} is a directory, not a skelkit .h5 store")
    if not h5py.is_hdf5(p):
        raise DataError(f"{p} is not an HDF5 file; create it with `skelkit preprocess`")
    kwargs: dict[str, Any] = {} if locking is None else {"locking": locking}
    try:
        handle = h5py.File(p, "r", **kwargs)
    except OSError as err:
        hint = " (on a network file system, try data.locking=false)" if "lock" in str(err) else ""
        raise DataError(f"can not open {p}: {err}{hint}") from err
    version = handle.attrs.get(FORMAT_ATTR)
    required = ("frames", "offsets", "lengths", "labels", "names", "meta", "splits", "skipped")
    missing = [key for key in required if key not in handle]
    if version is None or missing:
        handle.close()
        what = f"missing {', '.join(missing)}" if missing else f"no {FORMAT_ATTR} attribute"
        raise DataError(
            f"{p} is an HDF5 file but not a skelkit store ({what}); "
            "create it with `skelkit preprocess`"
        )
    if int(version) > FORMAT_VERSION:
        handle.close()
        raise DataError(
            f"{p} uses store format {int(version)}, newer than this skelkit reads "
            f"({FORMAT_VERSION}); upgrade skelkit"
        )
    return SkeletonStore(p, handle)


def _memmap_frames(path: Path, frames: Any) -> np.ndarray | None:
    """Map a contiguous, uncompressed, native-endian ``frames`` dataset; None otherwise."""
    if frames.chunks is not None or frames.compression is not None or frames.size == 0:
        return None
    offset = frames.id.get_offset()
    if offset is None or frames.dtype != np.dtype("=f4"):
        return None
    return np.memmap(path, dtype=np.float32, mode="r", offset=offset, shape=frames.shape)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


__all__ = [
    "COMPRESSIONS",
    "FORMAT_VERSION",
    "SkeletonStore",
    "SkippedSample",
    "StoreWriter",
    "open_store",
    "parse_compression",
]
