"""The HDF5 store: layout, round trip, write safety and the reader's checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from skelkit import __version__
from skelkit.data import store as store_module
from skelkit.data.store import FORMAT_ATTR, StoreWriter, open_store, parse_compression
from skelkit.errors import DataError


def _samples(count: int, seed: int = 0) -> list[tuple[str, np.ndarray, int, dict[str, int | str]]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        persons = 1 if i % 3 == 0 else 2
        frames = rng.standard_normal((5 + 7 * i, persons, 25, 3)).astype(np.float32)
        meta: dict[str, int | str] = {"camera": 1 + i % 3, "subject": 10 + i, "video": f"v{i}"}
        out.append((f"S001C00{1 + i % 3}P0{10 + i}R001A00{1 + i % 4}", frames, i % 4, meta))
    return out


def _write(path: Path, count: int = 6, **kwargs: object) -> list:
    samples = _samples(count)
    with StoreWriter(
        path,
        dataset="ntu60",
        recipe="ctrgcn",
        recipe_constants={"max_frames": 300, "noise_ratio": 0.69754},
        class_names=["drink water", "eat meal", "brush teeth", "brush hair"],
        raw_fingerprint="abc123",
        **kwargs,  # type: ignore[arg-type]
    ) as writer:
        for name, frames, label, meta in samples:
            writer.append(name, frames, label, meta)
        writer.skip("S001C001P001R001A005.skeleton", "line 7: expected 25 joints, got 3")
        writer.set_splits({"xsub": {"train": [4, 0, 2], "test": [5, 3, 1]}, "xview": {"x": []}})
    return samples


@pytest.mark.parametrize("compression", ["none", "lzf", "gzip:3"])
def test_round_trip(tmp_path: Path, compression: str) -> None:
    path = tmp_path / "ntu60_ctrgcn.h5"
    samples = _write(path, compression=compression)
    with open_store(path) as store:
        assert store.num_samples == len(samples)
        assert store.dataset == "ntu60"
        assert store.recipe == "ctrgcn"
        assert store.recipe_constants == {"max_frames": 300, "noise_ratio": 0.69754}
        assert store.class_names == ("drink water", "eat meal", "brush teeth", "brush hair")
        assert store.raw_fingerprint == "abc123"
        assert store.skelkit_version == __version__
        assert store.names == [s[0] for s in samples]
        assert store.labels.tolist() == [s[2] for s in samples]
        assert store.lengths.tolist() == [len(s[1]) for s in samples]
        assert store.frame_shape == (2, 25, 3)
        for i, (_, frames, _, _) in enumerate(samples):
            got = store.read(i)
            np.testing.assert_array_equal(got[:, : frames.shape[1]], frames)
            assert not got[:, frames.shape[1] :].any()  # one-person samples are zero-padded
        assert store.meta_columns == ("camera", "subject", "video")
        assert store.meta("camera").tolist() == [1 + i % 3 for i in range(len(samples))]
        assert store.meta("video")[2] == b"v2"
        assert store.split_indices("xsub", "train").tolist() == [4, 0, 2]
        assert store.split_indices("xsub", "test").dtype == np.int64
        assert store.splits == {"xsub": ("test", "train"), "xview": ("x",)}
        assert [(s.source, s.reason) for s in store.skipped] == [
            ("S001C001P001R001A005.skeleton", "line 7: expected 25 joints, got 3")
        ]
        runs = dict(store.iter_runs(np.array([5, 1, 2, 3])))
        assert sorted(runs) == [1, 2, 3, 5]
        for i, block in runs.items():
            np.testing.assert_array_equal(block, store.read(i))


@pytest.mark.parametrize("kernel_copy", [True, False])
def test_uncompressed_frames_are_copied_into_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kernel_copy: bool
) -> None:
    monkeypatch.setattr(store_module, "_COPY_FRAMES", 100)  # several buffer-sized steps
    if not kernel_copy:
        monkeypatch.delattr(os, "copy_file_range", raising=False)
    path = tmp_path / "s.h5"
    samples = _write(path, count=30)
    with h5py.File(path, "r") as f:  # read through HDF5 itself, not the store's memory map
        assert f["frames"].chunks is None
        frames = f["frames"][...]
        offsets = f["offsets"][...]
    assert frames.shape[0] == sum(len(s[1]) for s in samples) > 1000
    for i, (_, sample, _, _) in enumerate(samples):
        np.testing.assert_array_equal(
            frames[offsets[i] : offsets[i + 1], : sample.shape[1]], sample
        )
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]  # no temporary file left


def test_layout_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    samples = _write(path)
    with h5py.File(path, "r") as f:
        frames = f["frames"]
        assert frames.dtype == np.float32
        assert frames.chunks is None  # contiguous
        assert frames.compression is None
        assert frames.shape == (sum(len(s[1]) for s in samples), 2, 25, 3)
        offsets = f["offsets"][()]
        assert offsets.dtype == np.int64
        assert offsets[0] == 0
        assert offsets[-1] == frames.shape[0]
        assert f["names"].dtype.kind == "S"
        assert f.attrs[FORMAT_ATTR] == 1
        assert f.attrs["num_samples"] == len(samples)
        assert f.attrs["num_skipped"] == 1
        assert json.loads(f.attrs["recipe_constants"])["max_frames"] == 300


def test_frames_stream_to_a_side_file_not_memory(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    writer = StoreWriter(path, dataset="ntu60", recipe="ctrgcn")
    assert list(tmp_path.iterdir()) == []  # nothing on disk before the first sample
    frames = np.ones((40, 2, 25, 3), dtype=np.float32)
    for i in range(3):
        writer.append(f"n{i}", frames, 0)
    side = [p for p in tmp_path.iterdir() if p.name.endswith(".frames")]
    assert len(side) == 1
    assert writer._side is not None
    writer._side.flush()
    assert side[0].stat().st_size == 3 * frames.nbytes
    assert not path.exists()
    writer.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.h5"]


def test_exception_leaves_nothing_and_keeps_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    path.write_bytes(b"previous")

    def interrupted_write() -> None:
        with StoreWriter(path, dataset="d", recipe="r") as writer:
            writer.append("a", np.zeros((3, 2, 25, 3), np.float32), 0)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["s.h5"]


def test_empty_store_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "e.h5"
    with StoreWriter(path, dataset="d", recipe="r"):
        pass
    with open_store(path) as store:
        assert store.num_samples == 0
        assert store.splits == {}
        assert store.skipped == ()


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        (np.zeros((0, 2, 25, 3)), "expected"),
        (np.zeros((4, 3, 25, 3)), "M<=2"),
        (np.zeros((4, 2, 24, 3)), "expected"),
        (np.zeros((4, 25, 3)), "expected"),
    ],
)
def test_bad_sample_shapes(tmp_path: Path, frames: np.ndarray, match: str) -> None:
    with StoreWriter(tmp_path / "s.h5", dataset="d", recipe="r") as writer:
        with pytest.raises(DataError, match=match):
            writer.append("bad", frames, 0)
        writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_metadata_keys_must_agree(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.h5", dataset="d", recipe="r")
    writer.append("a", np.zeros((2, 2, 25, 3), np.float32), 0, {"camera": 1})
    with pytest.raises(DataError, match="metadata keys"):
        writer.append("b", np.zeros((2, 2, 25, 3), np.float32), 0, {"setup": 1})
    writer.abort()


def test_split_index_out_of_range(tmp_path: Path) -> None:
    writer = StoreWriter(tmp_path / "s.h5", dataset="d", recipe="r")
    writer.append("a", np.zeros((2, 2, 25, 3), np.float32), 0)
    with pytest.raises(DataError, match="refers to sample 1"):
        writer.set_splits({"xsub": {"train": [0, 1]}})
    writer.abort()


def test_bad_output_locations(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        StoreWriter(tmp_path / "missing" / "s.h5", dataset="d", recipe="r")
    with pytest.raises(DataError, match="is a directory"):
        StoreWriter(tmp_path, dataset="d", recipe="r")


@pytest.mark.parametrize("spec", ["zstd", "gzip:12", "lzf:2", "gzip:x"])
def test_bad_compression(spec: str) -> None:
    with pytest.raises(DataError):
        parse_compression(spec)


def test_open_store_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no such store.*skelkit preprocess"):
        open_store(tmp_path / "none.h5")
    with pytest.raises(DataError, match="is a directory"):
        open_store(tmp_path)
    text = tmp_path / "text.h5"
    text.write_text("not hdf5\n")
    with pytest.raises(DataError, match="not an HDF5 file"):
        open_store(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x_train"] = np.zeros((2, 300, 150), np.float32)
    with pytest.raises(DataError, match="not a skelkit store"):
        open_store(foreign)
    newer = tmp_path / "newer.h5"
    _write(newer)
    with h5py.File(newer, "a") as f:
        f.attrs[FORMAT_ATTR] = 99
    with pytest.raises(DataError, match="newer than this skelkit"):
        open_store(newer)


def test_unknown_split_lists_available(tmp_path: Path) -> None:
    path = tmp_path / "s.h5"
    _write(path)
    with open_store(path, locking=False) as store, pytest.raises(DataError) as info:
        store.split_indices("xset", "train")
    assert "xsub/test, xsub/train, xview/x" in str(info.value)
    with open_store(path) as store, pytest.raises(DataError, match="no metadata column"):
        store.meta("view")
