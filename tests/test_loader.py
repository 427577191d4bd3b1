"""SkeletonDataset: items, padding, lazy per-process opening, spawn workers, in-memory mode."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skelkit.data.loader import SkeletonDataset, collate, sample_rng, step_generator
from skelkit.data.store import StoreWriter
from skelkit.data.transforms import mamp_test, mamp_train
from skelkit.errors import DataError

NUM = 24


def _make_store(path: Path, compression: str = "none", longest: int = 150) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    samples = []
    with StoreWriter(
        path, dataset="ntu60", recipe="ctrgcn", class_names=["a", "b", "c"], compression=compression
    ) as writer:
        for i in range(NUM):
            length = longest if i == 5 else int(rng.integers(20, 120))
            frames = rng.standard_normal((length, 2, 25, 3)).astype(np.float32)
            samples.append(frames)
            writer.append(f"s{i:02d}", frames, i % 3, {"camera": 1 + i % 3})
        order = list(range(NUM))
        writer.set_splits({"xsub": {"train": order[::2][::-1], "test": order[1::2]}})
    return samples


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, list[np.ndarray]]:
    path = tmp_path / "ntu60_ctrgcn.h5"
    return path, _make_store(path)


def test_items_are_padded_valid_frames(store: tuple[Path, list[np.ndarray]]) -> None:
    path, samples = store
    ds = SkeletonDataset(path, "xsub", "train")
    assert len(ds) == NUM // 2
    assert ds.num_classes == 3
    file_indices = list(range(NUM))[::2][::-1]
    for i in range(len(ds)):
        x, length, label, index = ds[i]
        frames = samples[file_indices[i]]
        assert x.dtype == torch.float32
        assert x.shape == (3, 300, 25, 2)
        assert (length, label, index) == (len(frames), file_indices[i] % 3, i)
        np.testing.assert_array_equal(x[:, :length].numpy(), frames.transpose(3, 0, 2, 1))
        assert not x[:, length:].any()
    assert ds[-1][3] == len(ds) - 1
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_transform_items_and_epoch_randomness(store: tuple[Path, list[np.ndarray]]) -> None:
    path, samples = store
    transform = mamp_train()
    ds = SkeletonDataset(path, "xsub", "test", transform=transform, seed=3)
    x, length, _, index = ds[4]
    assert x.shape == (3, 120, 25, 2)
    assert length == 120
    frames = samples[2 * 4 + 1].transpose(3, 0, 2, 1)
    np.testing.assert_array_equal(x.numpy(), transform(frames, sample_rng(3, 0, index)))
    ds.set_epoch(1)
    assert not torch.equal(ds[4][0], x)
    torch.testing.assert_close(ds[(4, 0)][0], x, rtol=0, atol=0)
    ds.set_epoch(0)
    torch.testing.assert_close(ds[4][0], x, rtol=0, atol=0)


def test_in_memory_equals_on_disk(tmp_path: Path) -> None:
    for compression in ("none", "lzf"):
        path = tmp_path / f"{compression}.h5"
        _make_store(path, compression=compression)
        on_disk = SkeletonDataset(path, "xsub", "train")
        in_memory = SkeletonDataset(path, "xsub", "train", in_memory=True)
        for i in range(len(on_disk)):
            a, b = on_disk[i], in_memory[i]
            torch.testing.assert_close(a[0], b[0], rtol=0, atol=0)
            assert a[1:] == b[1:]


def test_pickle_drops_the_handle(store: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = store
    ds = SkeletonDataset(path, "xsub", "train", in_memory=True)
    first = ds[0]
    assert ds._store is not None
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._store is None
    assert clone._memory is None
    torch.testing.assert_close(clone[0][0], first[0], rtol=0, atol=0)
    ds.close()
    assert ds._store is None


def test_spawn_workers_give_the_same_batches(store: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = store
    ds = SkeletonDataset(path, "xsub", "train", transform=mamp_train(), seed=1)
    ds[0]  # an open handle in the parent must not leak into the workers
    ds.set_epoch(2)
    kwargs = {"batch_size": 4, "shuffle": False, "collate_fn": collate}
    serial = list(DataLoader(ds, num_workers=0, **kwargs))
    spawned = list(
        DataLoader(ds, num_workers=2, multiprocessing_context="spawn", **kwargs)  # type: ignore[arg-type]
    )
    assert len(serial) == len(spawned) == 3
    for a, b in zip(serial, spawned, strict=True):
        assert a.keys() == {"x", "lengths", "labels", "index"}
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)


def test_batched_path_matches_per_sample_for_the_test_transform(
    store: tuple[Path, list[np.ndarray]],
) -> None:
    path, _ = store
    padded = SkeletonDataset(path, "xsub", "test")
    per_sample = SkeletonDataset(path, "xsub", "test", transform=mamp_test())
    batch = collate([padded[i] for i in range(len(padded))])
    out, lengths = mamp_test().batch(batch["x"], batch["lengths"])
    expected = torch.stack([per_sample[i][0] for i in range(len(per_sample))])
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-5)
    assert lengths.tolist() == [120] * len(padded)


def test_too_long_samples_need_a_larger_pad(tmp_path: Path) -> None:
    path = tmp_path / "long.h5"
    _make_store(path, longest=320)
    with pytest.raises(DataError, match=r"320 frames.*data\.max_frames"):
        SkeletonDataset(path, "xsub", "test")
    ds = SkeletonDataset(path, "xsub", "test", max_frames=320)
    assert ds[2][0].shape == (3, 320, 25, 2)
    assert SkeletonDataset(path, "xsub", "test", transform=mamp_test())[2][1] == 120


def test_unknown_split_or_missing_file(store: tuple[Path, list[np.ndarray]]) -> None:
    path, _ = store
    with pytest.raises(DataError, match="available: xsub/test, xsub/train"):
        SkeletonDataset(path, "xview", "train")
    with pytest.raises(DataError, match="no such store"):
        SkeletonDataset(path.with_name("other.h5"), "xsub", "train")


def test_step_generator_is_reproducible() -> None:
    a = torch.rand(4, generator=step_generator(0, 1, 2))
    b = torch.rand(4, generator=step_generator(0, 1, 2))
    c = torch.rand(4, generator=step_generator(0, 1, 3))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_data_settings_store_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from skelkit.data.settings import DataSettings
    from skelkit.errors import ConfigError

    monkeypatch.setenv("SKELKIT_DATA_DIR", str(tmp_path))
    assert DataSettings().store_path("ntu60", "ctrgcn") == tmp_path / "ntu60_ctrgcn.h5"
    assert DataSettings(path="x.h5").store_path(None, None) == Path("x.h5")
    monkeypatch.delenv("SKELKIT_DATA_DIR")
    default = DataSettings().store_path("ntu120", "pyskl")
    assert default == Path("~/.cache/skelkit/data/ntu120_pyskl.h5").expanduser()
    with pytest.raises(ConfigError, match=r"data\.path"):
        DataSettings().store_path(None, "ctrgcn")
    with pytest.raises(ConfigError, match=r"unknown key data\.windw"):
        DataSettings.from_dict({"windw": 3})
    with pytest.raises(ConfigError, match="max_frames"):
        DataSettings(max_frames=0)
